import { html, type Html } from "../../html";
import { authPage, csrfField, field, flashBox, type Flash } from "../../layout";
import { PASSWORD_MIN } from "../../../identity/logins/model";

export type Errors = Partial<Record<string, string>>;

export function loginView(o: { csrf: string; email?: string; next?: string; flash?: Flash | null; signup: boolean }): Html {
  return authPage(
    "Sign in",
    html`<h1>Sign in</h1>
<p class="muted">Manage your API keys, credits and usage.</p>
${flashBox(o.flash)}
<form class="stack" method="post" action="/portal/login">
  ${csrfField(o.csrf)}
  ${o.next && html`<input type="hidden" name="next" value="${o.next}">`}
  ${field({ name: "email", label: "Email", type: "email", value: o.email, required: true, attrs: 'autocomplete="username" autofocus' })}
  ${field({ name: "password", label: "Password", type: "password", required: true, attrs: 'autocomplete="current-password"' })}
  <button class="btn primary" type="submit">Sign in</button>
</form>
<p class="muted">
  ${o.signup ? html`New here? <a href="/portal/signup">Create an account</a>.` : html`No account yet? Ask your operator for an invite link.`}
  Forgot your password? Your operator can send you a new invite link.
</p>`,
  );
}

export function inviteView(o: {
  csrf: string;
  token: string;
  accountName: string;
  email?: string | null;
  /** The invite names its address: shown, not chosen. */
  fixed?: boolean;
  errors?: Errors;
  reset: boolean;
  /** The role the invite is for (owners manage the account; admins and members join it). */
  role?: string;
}): Html {
  const e = o.errors ?? {};
  const invited = !o.role || o.role === "owner" ? "You have been invited to manage" : `You have been invited to join as ${o.role === "admin" ? "an admin" : "a member"} of`;
  return authPage(
    o.reset ? "Reset your password" : "Accept your invite",
    html`<h1>${o.reset ? "Choose a new password" : "Welcome to Tollgate"}</h1>
<p class="muted">${o.reset ? "Set a new password for" : invited} <strong>${o.accountName}</strong>.</p>
${e.form && flashBox({ kind: "error", message: e.form })}
<form class="stack" method="post" action="/portal/invite/${o.token}">
  ${csrfField(o.csrf)}
  ${field({
    name: "email", label: "Email", type: "email", value: o.email, required: true, error: e.email,
    hint: o.fixed ? "The address this invite was made for: you sign in with it." : undefined,
    attrs: o.fixed ? 'autocomplete="username" readonly' : 'autocomplete="username"',
  })}
  ${field({
    name: "password", label: "Password", type: "password", required: true, error: e.password,
    hint: `At least ${PASSWORD_MIN} characters.`, attrs: `autocomplete="new-password" minlength="${PASSWORD_MIN}"`,
  })}
  ${field({ name: "confirm", label: "Repeat password", type: "password", required: true, error: e.confirm, attrs: 'autocomplete="new-password"' })}
  <button class="btn primary" type="submit">${o.reset ? "Set password and sign in" : "Create my login"}</button>
</form>`,
  );
}

export function inviteInvalidView(state: "missing" | "used" | "expired"): Html {
  const text = {
    missing: "This invite link is not valid. Check that you copied all of it.",
    used: "This invite link has already been used. Sign in with your password, or ask your operator for a new link.",
    expired: "This invite link has expired. Ask your operator for a new one.",
  }[state];
  return authPage("Invite", html`<h1>Invite link unavailable</h1><p class="muted">${text}</p><a class="btn" href="/portal/login">Go to sign in</a>`);
}

export function signupView(o: { csrf: string; name?: string; email?: string; errors?: Errors; starter: string | null }): Html {
  const e = o.errors ?? {};
  return authPage(
    "Create an account",
    html`<h1>Create an account</h1>
<p class="muted">Get an API key for OpenAI-compatible models${o.starter && html`, with <strong>${o.starter}</strong> of free credit to start`}.</p>
${e.form && flashBox({ kind: "error", message: e.form })}
<form class="stack" method="post" action="/portal/signup">
  ${csrfField(o.csrf)}
  ${field({ name: "name", label: "Name or company", value: o.name, required: true, error: e.name, attrs: 'autocomplete="organization"' })}
  ${field({ name: "email", label: "Email", type: "email", value: o.email, required: true, error: e.email, attrs: 'autocomplete="username"' })}
  ${field({
    name: "password", label: "Password", type: "password", required: true, error: e.password,
    hint: `At least ${PASSWORD_MIN} characters.`, attrs: `autocomplete="new-password" minlength="${PASSWORD_MIN}"`,
  })}
  ${field({ name: "confirm", label: "Repeat password", type: "password", required: true, error: e.confirm, attrs: 'autocomplete="new-password"' })}
  <button class="btn primary" type="submit">Create account</button>
</form>
<p class="muted">Already have an account? <a href="/portal/login">Sign in</a>.</p>`,
  );
}

/** The answer to every accepted sign-up form, whether or not the email already has an account. */
export function signupSentView(ttlHours: number): Html {
  return authPage(
    "Check your email",
    html`<h1>Check your email</h1>
<p class="muted">If this address can be used for a new account, we have sent it a link to finish signing up (valid for
${ttlHours} hours). If it already has an account, we have sent it a reminder instead.</p>
<p class="muted">Nothing arrived? Check your spam folder, or <a href="/portal/signup">try again</a>.</p>
<a class="btn" href="/portal/login">Go to sign in</a>`,
  );
}

/** Step two of open sign-up: the password chosen at step one proves it is the same person. */
export function signupConfirmView(o: { csrf: string; token: string; email: string; error?: string }): Html {
  return authPage(
    "Finish signing up",
    html`<h1>Finish signing up</h1>
<p class="muted">Enter the password you chose to create the account for <strong>${o.email}</strong>.</p>
${o.error && flashBox({ kind: "error", message: o.error })}
<form class="stack" method="post" action="/portal/signup/confirm/${o.token}">
  ${csrfField(o.csrf)}
  ${field({ name: "password", label: "Password", type: "password", required: true, attrs: 'autocomplete="current-password" autofocus' })}
  <button class="btn primary" type="submit">Create my account</button>
</form>`,
  );
}

export function signupInvalidView(): Html {
  return authPage(
    "Sign-up link",
    html`<h1>Sign-up link unavailable</h1><p class="muted">This link is not valid, was already used or has expired.</p>
<a class="btn" href="/portal/signup">Sign up again</a> <a class="btn" href="/portal/login">Go to sign in</a>`,
  );
}

export function consoleLoginView(o: { csrf: string; flash?: Flash | null; next?: string }): Html {
  return authPage(
    "Operator sign in",
    html`<h1>Operator console</h1>
<p class="muted">Sign in with the admin token (<code>TOLLGATE_ADMIN_TOKEN</code>).</p>
${flashBox(o.flash)}
<form class="stack" method="post" action="/console/login">
  ${csrfField(o.csrf)}
  ${o.next && html`<input type="hidden" name="next" value="${o.next}">`}
  ${field({ name: "token", label: "Admin token", type: "password", required: true, attrs: 'autocomplete="current-password" autofocus' })}
  <button class="btn primary" type="submit">Sign in</button>
</form>`,
    "Console",
  );
}
