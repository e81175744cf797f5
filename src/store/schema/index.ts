/** Every table (SQLite), by domain; schema-pg/ is derived from these (derive-pg-schema.ts). */
export * from "./accounts";
export * from "./identity";
export * from "./money";
export * from "./usage";
export * from "./billing";
