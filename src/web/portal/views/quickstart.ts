import { html, type Html } from "../../html";
import { pageHead } from "../../layout";

export function quickstartView(o: { baseUrl: string; model: string; hasKey: boolean }): Html {
  const py = `# pip install openai
from openai import OpenAI

client = OpenAI(
    base_url="${o.baseUrl}",
    api_key="YOUR_API_KEY",  # or set OPENAI_API_KEY
)

response = client.chat.completions.create(
    model="${o.model}",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(response.choices[0].message.content)`;
  const js = `// npm install openai
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: "${o.baseUrl}",
  apiKey: process.env.TOLLGATE_API_KEY,
});

const response = await client.chat.completions.create({
  model: "${o.model}",
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(response.choices[0].message.content);`;
  const curl = `curl ${o.baseUrl}/chat/completions \\
  -H "Authorization: Bearer $TOLLGATE_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "${o.model}",
    "messages": [{"role": "user", "content": "Hello!"}]
  }'`;
  const tabs: [string, string, string][] = [["python", "Python", py], ["javascript", "JavaScript", js], ["curl", "curl", curl]];
  return html`${pageHead("Quickstart", "Use any OpenAI SDK or tool: change only the base URL and the API key.")}
${!o.hasKey && html`<div class="flash warn" role="status">You need an API key first. <a href="/portal/keys">Create one</a>.</div>`}
<section class="card" aria-labelledby="base-title">
  <h2 id="base-title">Your base URL</h2>
  <div class="secret"><div class="row"><code id="base-url">${o.baseUrl}</code><button class="btn" type="button" data-copy="#base-url">Copy</button></div></div>
  <p class="muted">Streaming, tools and JSON mode work as with OpenAI. Errors use the OpenAI format; out of credit is HTTP 402.</p>
</section>
<section class="card tabs" aria-labelledby="code-title">
  <h2 id="code-title">Make your first request</h2>
  <div role="tablist" aria-label="Language">${tabs.map(([id, label]) => html`<button type="button" role="tab" id="tab-${id}" aria-controls="panel-${id}">${label}</button>`)}</div>
  ${tabs.map(([id, , code]) => html`<div role="tabpanel" id="panel-${id}" aria-labelledby="tab-${id}" class="snippet">
    <pre class="code"><code id="code-${id}">${code}</code></pre><button class="btn small" type="button" data-copy="#code-${id}">Copy</button></div>`)}
</section>`;
}
