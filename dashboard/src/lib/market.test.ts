import { describe, expect, it } from "vitest";
import { OFFLINE_STYLE, bounds, circlePolygon, compsGeoJSON, historyRows, mapStyleUrl, type Comp } from "./market";

const comp = (n: number, lat: number, lon: number): Comp => ({
  parcel_id: `P${n}`, sale_date: "2026-01-01", sale_price: 400000, adjusted_price: 410000, price_per_sqft: 300.4,
  distance_m: 100 * n, latitude: lat, longitude: lon,
});

describe("comps on the map", () => {
  it("numbers the comps nearest first and puts the subject first", () => {
    const geo = compsGeoJSON({ latitude: 47.6, longitude: -122.3 }, [comp(1, 47.601, -122.3), comp(2, 47.59, -122.31)]);
    expect(geo.features.map((f) => [f.properties.kind, f.properties.number])).toEqual([["subject", 0], ["comp", 1], ["comp", 2]]);
    expect(geo.features[1]!.geometry).toEqual({ type: "Point", coordinates: [-122.3, 47.601] });
    expect(geo.features[1]!.properties.price_per_sqft).toBe(300);
  });

  it("leaves out a subject without a location", () => {
    expect(compsGeoJSON({ latitude: null, longitude: null }, []).features).toEqual([]);
  });

  it("draws the search radius as a closed ring of the right size", () => {
    const ring = (circlePolygon(47.6, -122.3, 1200).features[0]!.geometry as { coordinates: number[][][] }).coordinates[0]!;
    expect(ring[0]).toEqual(ring.at(-1));
    const north = Math.max(...ring.map((p) => p[1]!));
    expect((north - 47.6) * 111_195).toBeCloseTo(1200, -1); // metres per degree of latitude
  });

  it("frames every point with padding, and nothing without points", () => {
    const b = bounds([compsGeoJSON({ latitude: 47.6, longitude: -122.3 }, [comp(1, 47.7, -122.1)])])!;
    expect(b[0][0]).toBeLessThan(-122.3);
    expect(b[1][1]).toBeGreaterThan(47.7);
    expect(bounds([{ type: "FeatureCollection", features: [] }])).toBeNull();
  });

  it("uses the offline style unless an http(s) style URL is configured", () => {
    expect(mapStyleUrl({})).toBeNull();
    expect(mapStyleUrl({ VITE_MAP_STYLE_URL: "javascript:alert(1)" })).toBeNull();
    expect(mapStyleUrl({ VITE_MAP_STYLE_URL: " https://tiles.example.com/style.json " })).toBe("https://tiles.example.com/style.json");
    expect(OFFLINE_STYLE.layers.every((l) => l.type === "background")).toBe(true); // no tiles, no fonts
  });
});

describe("price history chart rows", () => {
  const index = [{ month: "2020-01-01", level: 1 }, { month: "2020-02-01", level: 1.1 }, { month: "2020-03-01", level: 1.21 }];

  it("moves the first sale along the index from its month, with every sale as a point", () => {
    const { mode, rows } = historyRows({ index, sales: [{ date: "2020-02-15", price: 100000 }, { date: "2020-03-20", price: 130000 }] });
    expect(mode).toBe("price");
    expect(rows.filter((r) => r.path !== undefined).map((r) => Math.round(r.path!))).toEqual([100000, 110000]);
    expect(rows.filter((r) => r.sale !== undefined).map((r) => r.sale)).toEqual([100000, 130000]);
    expect(rows.map((r) => r.t)).toEqual([...rows.map((r) => r.t)].sort((a, b) => a - b));
  });

  it("shows the index alone (first month = 100) when the parcel has no recorded sale", () => {
    const { mode, rows } = historyRows({ index, sales: [] });
    expect(mode).toBe("index");
    expect(rows.map((r) => Math.round(r.level!))).toEqual([100, 110, 121]);
    expect(historyRows({ index: [], sales: [] }).rows).toEqual([]);
  });
});
