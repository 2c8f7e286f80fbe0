// Settings › Profile: who the credentials act as (GET /me) and the person's own display name
// (GET/PATCH /me/profile). An API key has no profile: only the first part shows.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, data } from "../../api/client";
import { useMe } from "../../auth";
import { ErrorBox } from "../ui";

export const PROFILE_KEY = ["profile"];

export function useProfile() {
  const { data: me } = useMe();
  return useQuery({
    queryKey: PROFILE_KEY,
    queryFn: () => data(api.GET("/api/v1/me/profile")),
    enabled: me?.user_id != null,
  });
}

export function ProfileSettings() {
  const { data: me } = useMe();
  const profile = useProfile();
  const client = useQueryClient();
  const [name, setName] = useState("");
  useEffect(() => { setName(profile.data?.display_name ?? ""); }, [profile.data?.display_name]);
  const save = useMutation({
    mutationFn: () => data(api.PATCH("/api/v1/me/profile", { body: { display_name: name.trim() || null } })),
    onSuccess: (saved) => client.setQueryData(PROFILE_KEY, saved),
  });
  return (
    <section className="card" aria-labelledby="profile-h">
      <h2 id="profile-h" className="h2">Profile</h2>
      {me && (
        <dl className="mt-2 grid grid-cols-[8rem_1fr] gap-y-1 text-sm">
          <dt className="text-slate-600">Signed in as</dt><dd>{me.actor}</dd>
          <dt className="text-slate-600">Workspace</dt><dd>{me.tenant_id}</dd>
          <dt className="text-slate-600">Role</dt><dd>{me.role ?? "API key"}</dd>
          <dt className="text-slate-600">May</dt><dd>{me.permissions.join(", ")}</dd>
        </dl>
      )}
      {profile.data && (
        <form className="mt-3 flex flex-wrap items-end gap-2" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
          <div>
            <label htmlFor="display-name" className="label">Display name</label>
            <input id="display-name" className="input mt-1" maxLength={120} placeholder={profile.data.email}
              value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <button type="submit" className="btn" disabled={save.isPending}>Save name</button>
          {save.isSuccess && <span role="status" className="text-sm text-emerald-800">Saved.</span>}
        </form>
      )}
      {save.isError && <ErrorBox error={save.error} />}
    </section>
  );
}
