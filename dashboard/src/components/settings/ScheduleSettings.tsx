// Settings › Schedules: the pipeline's schedules and sensors as Dagster reports them (tenant
// admin); a platform admin starts or stops them (they run for every workspace).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, data } from "../../api/client";
import { useCan } from "../../auth";
import { humanize } from "../../lib/format";
import { ApiError } from "../../api/session";
import { ErrorBox, Loading } from "../ui";

const KEY = ["schedules"];

export function ScheduleSettings() {
  const isAdmin = useCan("admin");
  const isPlatform = useCan("platform");
  const client = useQueryClient();
  const schedules = useQuery({ queryKey: KEY, queryFn: () => data(api.GET("/api/v1/settings/schedules")), enabled: isAdmin, retry: false });
  const toggle = useMutation({
    mutationFn: ({ name, running }: { name: string; running: boolean }) =>
      data(api.PATCH("/api/v1/settings/schedules/{name}", { params: { path: { name } }, body: { running } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: KEY }),
  });
  if (!isAdmin) return null; // the pipeline's timing is an admin's business (the API answers 403 to others)
  return (
    <section className="card" aria-labelledby="schedules-h">
      <h2 id="schedules-h" className="h2">Schedules</h2>
      <p className="mt-1 text-sm text-slate-600">
        {isPlatform ? "Stopping one stops it for every workspace of this installation." : "Only the installation's operators start or stop them."}
      </p>
      {schedules.isPending ? <Loading /> : schedules.isError ? (
        schedules.error instanceof ApiError && schedules.error.status === 503 ? (
          // Not an error of the person's: this API process is not connected to Dagster (make dev connects it).
          <p className="mt-2 text-sm text-slate-600">Not available here: this API is not connected to the Dagster
            webserver (REOS_DAGSTER_URL), which runs the schedules. Data engineers switch them in the Dagster UI.</p>
        ) : <ErrorBox error={schedules.error} />
      ) : (
        <table className="mt-3 w-full text-sm">
          <caption className="sr-only">Schedules and sensors of the pipeline</caption>
          <thead className="text-left text-xs uppercase tracking-wide text-slate-600">
            <tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">When</th><th scope="col">State</th>{isPlatform && <th scope="col"><span className="sr-only">Actions</span></th>}</tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {schedules.data.map((s) => (
              <tr key={s.name}>
                <td className="py-1.5"><span className="font-mono text-xs">{s.name}</span>{s.description && <span className="block text-xs text-slate-600">{s.description}</span>}</td>
                <td className="py-1.5">{humanize(s.kind)}</td>
                <td className="py-1.5">{s.cron ? `${s.cron} (${s.timezone ?? "UTC"})` : "on events"}</td>
                <td className="py-1.5">{s.running ? <span className="font-semibold text-emerald-800">Running</span> : <span className="text-slate-700">Stopped</span>}</td>
                {isPlatform && (
                  <td className="py-1.5 text-right">
                    <button type="button" className="btn" disabled={toggle.isPending} onClick={() => toggle.mutate({ name: s.name, running: !s.running })}>
                      {s.running ? "Stop" : "Start"}<span className="sr-only"> {s.name}</span>
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {toggle.isError && <ErrorBox error={toggle.error} />}
    </section>
  );
}
