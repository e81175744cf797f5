import { z } from "zod";
import { hasControl, hasVisible, NAME_MAX } from "../../modules/accounts/model";
import { EmailAddress } from "../../modules/accounts/model";

export const PASSWORD_MIN = 10;

export const InviteBody = z.strictObject({
  email: EmailAddress.optional().describe("The sign-in email: the invite is accepted with this address only. Defaults to the owner's or the account's email; with none, the person accepting chooses."),
});

export const InviteView = z.object({
  object: z.literal("invite"),
  id: z.string(),
  account_id: z.string(),
  member_id: z.string().describe("The member the link signs in (the owner for an account's invite)."),
  role: z.enum(["owner", "admin", "member"]),
  email: z.string().nullable(),
  url: z.string().describe("One-time link to set a password. Shown only in this response."),
  expires_at: z.number().int().describe("Unix seconds."),
});

export const Email = z.string().trim().toLowerCase().pipe(z.email("Enter a valid email address.").max(254, "An email address has at most 254 characters."));
export const Password = z
  .string()
  .min(PASSWORD_MIN, `Use at least ${PASSWORD_MIN} characters.`)
  .max(200, "Use at most 200 characters.");

export const SetPasswordForm = z
  .object({ email: Email, password: Password, confirm: z.string() })
  .refine((f) => f.password === f.confirm, { message: "The passwords do not match.", path: ["confirm"] });

export const SignUpForm = z
  .object({
    // The account's name, held to the API's rules for one.
    name: z
      .string()
      .trim()
      .min(1, "Enter a name.")
      .max(NAME_MAX)
      .refine(hasVisible, "Enter a name with visible characters.")
      .refine((s) => !hasControl(s), "A name has no line breaks, tabs or other control characters."),
    email: Email,
    password: Password,
    confirm: z.string(),
  })
  .refine((f) => f.password === f.confirm, { message: "The passwords do not match.", path: ["confirm"] });

export type InviteViewT = z.infer<typeof InviteView>;
