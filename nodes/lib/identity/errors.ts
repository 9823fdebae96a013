/** A refused identity operation (a CA that exists, an unknown device, a name taken): the CLI's exit code 1. */
export class IdentityError extends Error {}
