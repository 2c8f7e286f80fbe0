import { QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { Suspense, lazy, useEffect, useState, type ReactNode } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { session } from "./api/client";
import { ApiError } from "./api/session";
import { Layout } from "./components/Layout";
import { Loading } from "./components/ui";

// Every screen is its own chunk: the first page loads only the shell and the screen it shows.
const Login = lazy(() => import("./screens/Login"));
const Home = lazy(() => import("./screens/Home"));
const Properties = lazy(() => import("./screens/Properties"));
const PropertyDetail = lazy(() => import("./screens/PropertyDetail"));
const Analytics = lazy(() => import("./screens/Analytics"));
const Models = lazy(() => import("./screens/Models"));
const ModelDetail = lazy(() => import("./screens/ModelDetail"));
const Settings = lazy(() => import("./screens/Settings"));
const Campaigns = lazy(() => import("./screens/Campaigns"));
const Recipients = lazy(() => import("./screens/Recipients"));
const NotFound = lazy(() => import("./screens/NotFound"));
const ForgotPassword = lazy(() => import("./screens/AccountLinks").then((m) => ({ default: m.ForgotPassword })));
const ResetPassword = lazy(() => import("./screens/AccountLinks").then((m) => ({ default: m.ResetPassword })));
const VerifyEmail = lazy(() => import("./screens/AccountLinks").then((m) => ({ default: m.VerifyEmail })));

const queryClient = new QueryClient({
  queryCache: new QueryCache(),
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      // 4xx answers are final (403, 404, 422): only retry what may pass on a second try.
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
    },
  },
});

function RequireAuth({ children }: { children: ReactNode }) {
  const [active, setActive] = useState(session.active);
  const location = useLocation();
  useEffect(() => session.subscribe(setActive), []);
  if (!active) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

/** When the session ends (logout, or a refresh refused), nothing of it stays in the cache. */
function SessionWatcher() {
  const navigate = useNavigate();
  useEffect(() => session.subscribe((active) => {
    if (!active) {
      queryClient.clear();
      navigate("/login", { replace: true });
    }
  }), [navigate]);
  return null;
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <SessionWatcher />
        <Suspense fallback={<Loading label="Loading" />}>
          <Routes>
            <Route path="/login" element={<Login />} />
            <Route path="/forgot-password" element={<ForgotPassword />} />
            <Route path="/reset-password" element={<ResetPassword />} />
            <Route path="/verify-email" element={<VerifyEmail />} />
            <Route element={<RequireAuth><Layout /></RequireAuth>}>
              <Route index element={<Home />} />
              <Route path="properties" element={<Properties />} />
              <Route path="properties/:id" element={<PropertyDetail />} />
              <Route path="analytics" element={<Analytics />} />
              <Route path="models" element={<Models />} />
              <Route path="models/:id" element={<ModelDetail />} />
              <Route path="campaigns" element={<Campaigns />} />
              <Route path="recipients" element={<Recipients />} />
              <Route path="settings" element={<Settings />} />
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </Suspense>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
