import { useQuery } from "@tanstack/react-query";
import { api, data, session } from "./api/client";

/** The caller as the API sees them (GET /me): role and permissions shape what the UI offers; the
 * API enforces them regardless. */
export function useMe() {
  return useQuery({
    queryKey: ["me"],
    queryFn: () => data(api.GET("/api/v1/me")),
    enabled: session.active,
    staleTime: 5 * 60_000,
  });
}

export type Permission = "read" | "write" | "admin" | "owner" | "platform";

export function useCan(permission: Permission): boolean {
  const { data: me } = useMe();
  return Boolean(me?.permissions.includes(permission));
}
