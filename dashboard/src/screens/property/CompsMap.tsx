// MapLibre GL, loaded only with the property page's comps (its own chunk: the list and Home never
// download it). Offline by default: no tiles, no fonts — a plain background, the search radius and
// the points from GeoJSON. A production style (vector tiles) comes from VITE_MAP_STYLE_URL.
import maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import { useEffect, useRef, useState } from "react";
import { OFFLINE_STYLE, bounds, circlePolygon, compsGeoJSON, mapStyleUrl, type Comp } from "../../lib/market";

interface Props {
  latitude: number;
  longitude: number;
  comps: Comp[];
  radiusM: number | null;
}

export default function CompsMap({ latitude, longitude, comps, radiusM }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);

  useEffect(() => {
    if (!container.current) return;
    const points = compsGeoJSON({ latitude, longitude }, comps);
    const area = radiusM ? circlePolygon(latitude, longitude, radiusM) : null;
    // Framed on the points (the radius is drawn but may run off the edges); no comps: the radius.
    const frame = bounds(comps.length || !area ? [points] : [points, area]);
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
      // No WebGL (old browser, locked-down machine): say so; the table lists the same sales.
      setFailed(error instanceof Error ? error.message : String(error));
      return;
    }
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.on("load", () => {
      if (!area) return;
      map.addSource("search-area", { type: "geojson", data: area as unknown as GeoJSON.FeatureCollection });
      map.addLayer({ id: "search-area-fill", type: "fill", source: "search-area", paint: { "fill-color": "#1e40af", "fill-opacity": 0.05 } });
      map.addLayer({ id: "search-area-line", type: "line", source: "search-area",
        paint: { "line-color": "#1e40af", "line-width": 1.5, "line-dasharray": [2, 2] } });
    });
    // Markers are DOM elements: numbers without a font server, and they work on any style.
    for (const f of points.features) {
      if (f.geometry.type !== "Point") continue;
      const element = document.createElement("div");
      const subject = f.properties.kind === "subject";
      element.className = subject ? "reos-marker reos-marker-subject" : "reos-marker";
      element.textContent = subject ? "★" : String(f.properties.number);
      element.setAttribute("aria-hidden", "true");
      new maplibregl.Marker({ element }).setLngLat(f.geometry.coordinates).addTo(map);
    }
    return () => map.remove();
  }, [latitude, longitude, comps, radiusM]);

  if (failed) {
    return (
      <p className="rounded-md bg-slate-50 p-3 text-sm text-slate-700">
        The map needs WebGL, which this browser does not offer ({failed}). The table below lists the same sales.
      </p>
    );
  }
  return (
    <div ref={container} className="h-72 w-full overflow-hidden rounded-md border border-slate-200" role="region"
      aria-label={`Map of the property (star) and its ${comps.length} comparable sales, numbered as in the table`} />
  );
}
