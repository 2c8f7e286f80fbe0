// The comps map: the property (star), its comparable sales numbered as in the table, and the search
// radius, on the shared MapLibre component (components/PointsMap.tsx, offline style by default).
import { useMemo } from "react";
import PointsMap, { type Marker } from "../../components/PointsMap";
import { circlePolygon, compsGeoJSON, type Comp } from "../../lib/market";

interface Props {
  latitude: number;
  longitude: number;
  comps: Comp[];
  radiusM: number | null;
}

const marker = (p: Record<string, string | number>): Marker =>
  p.kind === "subject" ? { text: "★", className: "reos-marker reos-marker-subject" } : { text: String(p.number), className: "reos-marker" };

export default function CompsMap({ latitude, longitude, comps, radiusM }: Props) {
  const points = useMemo(() => compsGeoJSON({ latitude, longitude }, comps), [latitude, longitude, comps]);
  const area = useMemo(() => (radiusM ? circlePolygon(latitude, longitude, radiusM) : null), [latitude, longitude, radiusM]);
  // Framed on the points (the radius is drawn but may run off the edges); no comps: the radius.
  return (
    <PointsMap points={points} area={area} frameOnArea={!comps.length} marker={marker}
      label={`Map of the property (star) and its ${comps.length} comparable sales, numbered as in the table`}
      fallback="The map needs WebGL, which this browser does not offer. The table below lists the same sales." />
  );
}
