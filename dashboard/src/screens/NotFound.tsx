import { Link } from "react-router-dom";

export default function NotFound() {
  return (
    <div>
      <h1 className="h1">Page not found</h1>
      <p className="mt-2"><Link className="text-blue-800 underline" to="/">Back to Home</Link></p>
    </div>
  );
}
