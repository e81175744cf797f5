import { customType } from "drizzle-orm/pg-core";

/** JSON kept as text, as in SQLite: raw statements read the same value from both stores. */
export const jsonText = customType<{ data: unknown; driverData: string }>({
  dataType: () => "text",
  toDriver: (v) => JSON.stringify(v),
  fromDriver: (v) => JSON.parse(v),
});
