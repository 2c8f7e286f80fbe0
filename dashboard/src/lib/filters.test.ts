import { describe, expect, it } from "vitest";
import {
  EMPTY_FILTERS, activeFilterCount, apiQuery, filtersFromSearch, filtersToSearch, fromSavedFilters, toSavedFilters, toggleSort,
} from "./filters";

describe("filters and query strings", () => {
  it("round-trips through the URL with repeated keys and without defaults", () => {
    const filters = { ...EMPTY_FILTERS, county: ["king_wa", "pierce_wa"], status: ["scored" as const], min_score: 70, max_price: 650000, q: "main st" };
    const search = filtersToSearch(filters);
    expect(search.toString()).toBe("county=king_wa&county=pierce_wa&status=scored&min_score=70&max_price=650000&q=main+st");
    expect(filtersFromSearch(search)).toEqual(filters);
  });

  it("drops what the API would refuse", () => {
    const filters = filtersFromSearch(new URLSearchParams("min_score=abc&max_score=-3&status=bogus&q=a&min_price=0"));
    expect(filters).toEqual({ ...EMPTY_FILTERS, min_price: 0, q: "a" });
    expect(filtersToSearch(filters).toString()).toBe("min_price=0"); // one letter is not a search yet
    expect(activeFilterCount(filters)).toBe(1);
  });

  it("carries the estimated-value range through the URL and the API query", () => {
    const filters = filtersFromSearch(new URLSearchParams("min_value=400000&max_value=650000"));
    expect(filters).toEqual({ ...EMPTY_FILTERS, min_value: 400000, max_value: 650000 });
    expect(apiQuery(filters)).toMatchObject({ min_value: 400000, max_value: 650000 });
    expect(activeFilterCount(filters)).toBe(2);
  });

  it("builds the API query with sort, cursor and limit", () => {
    const query = apiQuery({ ...EMPTY_FILTERS, county: ["king_wa"], min_score: 60 }, "abc", 25);
    expect(query).toEqual({ county: ["king_wa"], min_score: 60, limit: 25, cursor: "abc", sort: "-bird_dog_score" });
  });

  it("saved searches use null for no filter, and come back the same", () => {
    const filters = { ...EMPTY_FILTERS, property_type: ["condo"], min_score: 50, sort: "list_price" };
    const saved = toSavedFilters(filters);
    expect(saved).toEqual({ county: null, property_type: ["condo"], status: null, min_score: 50, max_score: null,
      min_price: null, max_price: null, min_value: null, max_value: null, q: null, reviewed: null, sort: "list_price" });
    expect(fromSavedFilters(saved)).toEqual(filters);
  });

  it("carries the review filter through the URL, the API query and saved searches", () => {
    const filters = { ...EMPTY_FILTERS, reviewed: false };
    expect(filtersToSearch(filters).toString()).toBe("reviewed=false");
    expect(filtersFromSearch(new URLSearchParams("reviewed=false"))).toEqual(filters);
    expect(filtersFromSearch(new URLSearchParams("reviewed=maybe"))).toEqual(EMPTY_FILTERS);
    expect(apiQuery(filters).reviewed).toBe("false");
    expect(activeFilterCount(filters)).toBe(1);
    expect(fromSavedFilters(toSavedFilters({ ...EMPTY_FILTERS, reviewed: true }))).toEqual({ ...EMPTY_FILTERS, reviewed: true });
  });

  it("sorts: first click descending, then ascending; shift adds up to three keys", () => {
    expect(toggleSort("-bird_dog_score", "list_price")).toBe("-list_price");
    expect(toggleSort("-list_price", "list_price")).toBe("list_price");
    expect(toggleSort("-bird_dog_score", "list_price", true)).toBe("-bird_dog_score,-list_price");
    expect(toggleSort("-bird_dog_score,-list_price", "bird_dog_score", true)).toBe("bird_dog_score,-list_price");
    expect(toggleSort("a,b,c", "d", true)).toBe("b,c,-d");
  });
});
