// MapLibre GL with points (DOM markers) and an optional area, shared by the property page's comps
// map and the Analytics screen's deals map. Loaded lazily by both (its own chunk: the list and Home
// never download MapLibre). Offline by default: no tiles, no fonts — a plain background and the
// GeoJSON on top. A production style (vector tiles) comes from VITE_MAP_STYLE_URL.
import maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { OFFLINE_STYLE, bounds, mapStyleUrl, type FeatureCollection } from "../lib/market";

export interface Marker {
  text: string;
  className: string;
  /** Diameter in px; none: the class's size. */
  size?: number;
  title?: string;
}

interface Props {
  points: FeatureCollection;
  /** How each point looks, from its GeoJSON properties. */
  marker: (properties: Record<string, string | number>) => Marker;
  /** Drawn under the points (e.g. a search radius); the frame follows `frameOnArea`. */
  area?: FeatureCollection | null;
  frameOnArea?: boolean;
  label: string;
  /** What to say when the browser has no WebGL (the page's table lists the same data). */
  fallback: ReactNode;
  className?: string;
}

export default function PointsMap({ points, marker, area = null, frameOnArea = false, label, fallback, className = "h-72" }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);

  useEffect(() => {
    if (!container.current) return;
    const frame = bounds(frameOnArea && area ? [points, area] : [points]);
    const styleUrl = mapStyleUrl(import.meta.env as Record<string, string | undefined>);
    let map: maplibregl.Map;
    try {
      map = new maplibregl.Map({
        container: container.current,
        style: styleUrl ?? (OFFLINE_STYLE as maplibregl.StyleSpecification),
        bounds: frame ?? undefined,
        fitBoundsOptions: { padding: 16 },
        attributionControl: styleUrl ? { compact: true } : false,
        cooperativeGestures: true, // a phone scrolls the page with one finger; two move the map
      });
    } catch (error) {
      // No WebGL (old browser, locked-down machine): say so; the page's table lists the same data.
      setFailed(error instanceof Error ? error.message : String(error));
      return;
    }
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.on("load", () => {
      if (!area) return;
      map.addSource("area", { type: "geojson", data: area as unknown as GeoJSON.FeatureCollection });
      map.addLayer({ id: "area-fill", type: "fill", source: "area", paint: { "fill-color": "#1e40af", "fill-opacity": 0.05 } });
      map.addLayer({ id: "area-line", type: "line", source: "area",
        paint: { "line-color": "#1e40af", "line-width": 1.5, "line-dasharray": [2, 2] } });
    });
    // Markers are DOM elements: text without a font server, and they work on any style.
    for (const f of points.features) {
      if (f.geometry.type !== "Point") continue;
      const look = marker(f.properties);
      const element = document.createElement("div");
      element.className = look.className;
      element.textContent = look.text;
      if (look.size) Object.assign(element.style, { width: `${look.size}px`, height: `${look.size}px` });
      if (look.title) element.title = look.title;
      element.setAttribute("aria-hidden", "true");
      new maplibregl.Marker({ element }).setLngLat(f.geometry.coordinates).addTo(map);
    }
    return () => map.remove();
  }, [points, marker, area, frameOnArea]);

  if (failed) {
    return <p className="rounded-md bg-slate-50 p-3 text-sm text-slate-700">{fallback} ({failed})</p>;
  }
  return <div ref={container} className={`${className} w-full overflow-hidden rounded-md border border-slate-200`} role="region" aria-label={label} />;
}
