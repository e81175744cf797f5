// Browser entry for test/browser-cors.test.ts: the OpenAI SDK as a page would ship it.
import OpenAI from "openai";

(globalThis as unknown as { OpenAI: typeof OpenAI }).OpenAI = OpenAI;
