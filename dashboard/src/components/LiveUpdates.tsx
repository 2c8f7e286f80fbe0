import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { session } from "../api/client";
import { reactTo, socketUrl, type LiveEvent } from "../lib/live";
import { useProfile } from "./settings/ProfileSettings";

const BATCH_MS = 1000; // events of about a second make one refresh and one set of toasts
const TOAST_MS = 6000;
const MAX_TOASTS = 3;

/** The API's WebSocket while logged in: refreshed queries and toasts, no page reloads. The socket
 * reopens after a drop (with growing waits); what it missed is refetched by the invalidation. */
export function LiveUpdates() {
  const client = useQueryClient();
  const [toasts, setToasts] = useState<{ id: number; text: string }[]>([]);
  // The person's muted notifications (Settings › Notifications), read by the socket's handler.
  const preferences = useProfile().data?.notification_preferences;
  const muted = useRef<ReadonlySet<string>>(new Set());
  muted.current = new Set(Object.entries(preferences ?? {}).filter(([, on]) => !on).map(([kind]) => kind));
  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let retry = 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let buffer: LiveEvent[] = [];
    let flush: ReturnType<typeof setTimeout> | undefined;
    let next = 0;
    const apply = () => {
      const { invalidate, toasts: texts } = reactTo(buffer, muted.current);
      buffer = [];
      flush = undefined;
      invalidate.forEach((queryKey) => void client.invalidateQueries({ queryKey }));
      if (texts.length) {
        const made = texts.map((text) => ({ id: next++, text }));
        setToasts((t) => [...t, ...made].slice(-MAX_TOASTS));
        setTimeout(() => setToasts((t) => t.filter((x) => !made.includes(x))), TOAST_MS);
      }
    };
    const open = async () => {
      const token = await session.accessToken();
      if (stopped || !token) return;
      socket = new WebSocket(socketUrl(window.location));
      socket.onopen = () => { socket?.send(JSON.stringify({ token })); };
      socket.onmessage = (message) => {
        const event = JSON.parse(String(message.data)) as LiveEvent;
        if (event.kind === "ready") { retry = 1000; return; }
        buffer.push(event);
        flush ??= setTimeout(apply, BATCH_MS);
      };
      socket.onclose = () => {
        if (stopped) return;
        timer = setTimeout(() => void open(), retry);
        retry = Math.min(retry * 2, 30_000);
      };
    };
    void open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(flush);
      socket?.close();
    };
  }, [client]);
  return (
    <div role="log" aria-label="Notifications" aria-live="polite" className="pointer-events-none fixed bottom-4 right-4 z-50 flex flex-col gap-2">
      {toasts.map((t) => (
        <p key={t.id} className="rounded-md border border-slate-300 bg-white px-3 py-2 text-sm text-slate-900 shadow" data-testid="toast">
          {t.text}
        </p>
      ))}
    </div>
  );
}
