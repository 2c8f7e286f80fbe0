// Settings › Notifications: which live notifications (the toasts of components/LiveUpdates.tsx)
// and emails (search_alert: saved-search digests)
// the person wants; stored with their account (PATCH /me/profile), whatever the workspace.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, data } from "../../api/client";
import { useMe } from "../../auth";
import { humanize } from "../../lib/format";
import { ErrorBox, Loading } from "../ui";
import { PROFILE_KEY, useProfile } from "./ProfileSettings";

export function NotificationSettings() {
  const { data: me } = useMe();
  const profile = useProfile();
  const client = useQueryClient();
  const save = useMutation({
    mutationFn: (change: Record<string, boolean>) =>
      data(api.PATCH("/api/v1/me/profile", { body: { notification_preferences: change } })),
    onSuccess: (saved) => client.setQueryData(PROFILE_KEY, saved),
  });
  if (me?.user_id == null) return null; // an API key: no person to notify
  return (
    <section className="card" aria-labelledby="notifications-h">
      <h2 id="notifications-h" className="h2">Notifications</h2>
      <p className="mt-1 text-sm text-slate-600">What this dashboard tells you as it happens, and which emails you get.</p>
      {profile.isPending ? <Loading /> : profile.isError ? <ErrorBox error={profile.error} /> : (
        <fieldset className="mt-2 space-y-1 text-sm">
          <legend className="sr-only">Notifications to show</legend>
          {Object.entries(profile.data.notifications).map(([name, text]) => (
            <label key={name} className="flex items-center gap-2">
              <input type="checkbox" checked={profile.data.notification_preferences[name] ?? true} disabled={save.isPending}
                onChange={(e) => save.mutate({ [name]: e.target.checked })} />
              <span><span className="font-medium">{humanize(name)}</span>: {text}</span>
            </label>
          ))}
        </fieldset>
      )}
      {save.isError && <ErrorBox error={save.error} />}
    </section>
  );
}
