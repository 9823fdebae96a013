// Polls until a condition holds, or fails the test naming what it waited for (and, if given, the state it saw).
export async function until(
  test: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  state?: () => unknown,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > end) {
      const seen = state ? ` (saw ${JSON.stringify(await state())})` : "";
      throw new Error(`timed out waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
