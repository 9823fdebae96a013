// A database of a test's own on the local PostgreSQL (127.0.0.1:5432, or PIFOG_TEST_PG_URL), and how to drop it.
import pg from "pg";

export const PG_ADMIN = process.env.PIFOG_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export async function pgDatabase(prefix = "pifog_test"): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect().catch((err: Error) => {
    throw new Error(`PostgreSQL at ${PG_ADMIN} is needed for this test (${err.message})`);
  });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: PG_ADMIN });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
