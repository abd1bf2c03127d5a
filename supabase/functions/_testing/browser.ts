// A real browser for the browser-facing tests: headless Chromium (Debian's chromium, installed by
// scripts/setup). `dumpDom` loads a page and returns the DOM once its scripts settled (the
// snippet's test); `openBrowser` drives one tab over the DevTools protocol (a WebSocket), so a
// test can type into a page's fields and press its buttons as a person would, then read where
// the browser ended up, or close the tab as a person leaving the page does.

const BROWSER_SECONDS = 60;

/** The flags every run uses: headless, no sandbox (root in CI), a throwaway profile. */
function chromiumArgs(profile: string): string[] {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    `--user-data-dir=${profile}`,
  ];
}

function notInstalled(err: unknown): never {
  if (err instanceof Deno.errors.NotFound) {
    throw new Error(
      "chromium is not installed: run scripts/setup (as root it installs Debian's chromium)",
    );
  }
  throw err;
}

/** Runs headless Chromium on `url` until the page settles; returns the DOM it dumped. */
export async function dumpDom(url: string): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "beacon-chromium-" });
  try {
    const output = await new Deno.Command("chromium", {
      args: [
        ...chromiumArgs(profile),
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(BROWSER_SECONDS * 1000),
    }).output().catch(notInstalled);
    const dom = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `chromium failed (code ${output.code}, within ${BROWSER_SECONDS}s):\n${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    }
    return dom;
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

type Message = {
  id?: number;
  method?: string;
  sessionId?: string;
  result?: Record<string, unknown>;
  error?: { message: string };
};

/** One headless Chromium tab, driven over the DevTools protocol. */
export type Browser = {
  /** Opens `url` and waits for the page's load event. */
  goto(url: string): Promise<void>;
  /** Runs `expression` in the page (awaiting a promise) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Runs `expression` (e.g. a button's click) and waits for the page it navigates to. */
  navigateBy(expression: string): Promise<void>;
  /** Runs `script` in every page the tab opens from now on, before the page's own scripts. */
  beforePageScripts(script: string): Promise<void>;
  /** Closes the tab, as a person closing it does (the page hides and unloads). */
  closeTab(): Promise<void>;
  /** The page's URL and its text as a person reads it. */
  page(): Promise<{ url: string; text: string }>;
  close(): Promise<void>;
};

/** What a person may have set in the browser's settings. */
export type BrowserSettings = {
  /** "Send a Do Not Track request" (navigator.doNotTrack === "1", and the DNT header). */
  doNotTrack?: boolean;
};

/** Starts headless Chromium with one blank tab to drive. */
export async function openBrowser(settings: BrowserSettings = {}): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "beacon-chromium-" });
  if (settings.doNotTrack) {
    // The profile's preference that chrome://settings writes for the same switch.
    await Deno.mkdir(`${profile}/Default`);
    await Deno.writeTextFile(
      `${profile}/Default/Preferences`,
      JSON.stringify({ enable_do_not_track: true }),
    );
  }
  const child = (() => {
    try {
      return new Deno.Command("chromium", {
        args: [
          ...chromiumArgs(profile),
          "--remote-debugging-port=0",
          "about:blank",
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      return notInstalled(err);
    }
  })();
  // Chromium prints its DevTools address on stderr; keep draining stderr after that.
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const deadline = setTimeout(
    () => child.kill("SIGKILL"),
    BROWSER_SECONDS * 1000,
  );
  let address: string | undefined;
  while (!address) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`chromium did not start:\n${log}`);
    log += value;
    address = /DevTools listening on (ws:\/\/\S+)/.exec(log)?.[1];
  }
  const draining = (async () => {
    while (!(await lines.read()).done);
  })();

  const socket = new WebSocket(address);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error(`cannot reach chromium at ${address}`));
  });
  let nextId = 0;
  const replies = new Map<number, (message: Message) => void>();
  const listeners = new Set<(message: Message) => void>();
  socket.onmessage = (event) => {
    const message: Message = JSON.parse(event.data);
    if (message.id !== undefined) replies.get(message.id)?.(message);
    else for (const listener of listeners) listener(message);
  };
  // The tab's session, once attached; browser-level commands go without one.
  const tab: { sessionId?: string } = {};
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++nextId;
      replies.set(id, (message) => {
        replies.delete(id);
        if (message.error) {
          reject(new Error(`${method}: ${message.error.message}`));
        } else resolve(message.result ?? {});
      });
      socket.send(JSON.stringify({ id, method, params, sessionId: tab.sessionId }));
    });
  /** Resolves at the tab's next load event (15 s at most). */
  const nextLoad = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error("the page did not load within 15 s"));
      }, 15_000);
      const listener = (message: Message) => {
        if (
          message.sessionId === tab.sessionId &&
          message.method === "Page.loadEventFired"
        ) {
          clearTimeout(timer);
          listeners.delete(listener);
          resolve();
        }
      };
      listeners.add(listener);
    });

  const { targetId } = await send("Target.createTarget", {
    url: "about:blank",
  }) as { targetId: string };
  const attached = await send("Target.attachToTarget", { targetId, flatten: true });
  tab.sessionId = attached.sessionId as string;
  await send("Page.enable");

  const evaluate = async <T>(expression: string): Promise<T> => {
    const result = await send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }) as { result: { value: T }; exceptionDetails?: { text: string } };
    if (result.exceptionDetails) {
      throw new Error(
        `${expression}: ${JSON.stringify(result.exceptionDetails)}`,
      );
    }
    return result.result.value;
  };
  return {
    async goto(url) {
      const loaded = nextLoad();
      await send("Page.navigate", { url });
      await loaded;
    },
    evaluate,
    async navigateBy(expression) {
      const loaded = nextLoad();
      await evaluate(expression);
      await loaded;
    },
    async beforePageScripts(script) {
      await send("Page.addScriptToEvaluateOnNewDocument", { source: script });
    },
    async closeTab() {
      // A browser-level command: the tab's session ends with the tab.
      tab.sessionId = undefined;
      await send("Target.closeTarget", { targetId });
    },
    page: () =>
      evaluate<{ url: string; text: string }>(
        "({ url: location.href, text: document.body ? document.body.innerText : '' })",
      ),
    async close() {
      clearTimeout(deadline);
      socket.close();
      child.kill("SIGTERM");
      await child.status;
      await draining;
      await Deno.remove(profile, { recursive: true });
    },
  };
}
