/**
 * Services of the SDK matrix (tests/sdk_matrix) on the official TypeScript SDK: the same services,
 * handler names and behaviour as tests/services/matrix.py, written the TypeScript SDK's way.
 */

import {
  type Context,
  type ObjectContext,
  type ObjectSharedContext,
  type WorkflowContext,
  type WorkflowSharedContext,
  handlers,
  object,
  RestatePromise,
  RetryableError,
  rpc,
  serde,
  service,
  TerminalError,
  workflow,
} from "@restatedev/restate-sdk";

/** Attempts per key, kept in memory across retries (as matrix.py's `_attempts`). */
const attempts = new Map<string, number>();

function bump(key: string): number {
  const n = (attempts.get(key) ?? 0) + 1;
  attempts.set(key, n);
  return n;
}

// --- Greeter: plain service ------------------------------------------------------------------

export const greeter = service({
  name: "Greeter",
  handlers: {
    greet: async (_ctx: Context, name: string): Promise<string> => `Hello ${name}!`,

    /** Three durable steps (the CPU-cost workload). */
    steps: async (ctx: Context, n: number): Promise<number> => {
      let total = n;
      for (const k of [1, 2, 3]) {
        total += await ctx.run(`step${k}`, () => 1);
      }
      return total;
    },

    /** Durable promises awaited concurrently: RestatePromise.all (this SDK's gather). */
    parallel: async (ctx: Context, n: number): Promise<number[]> => {
      const a = ctx.run("a", () => n + 1);
      const b = ctx.run("b", () => n + 2);
      const both = await RestatePromise.all([a, b]);
      const c = ctx.run("c", () => n + 3);
      const d = ctx.run("d", () => n + 4);
      await RestatePromise.all([c, d]);
      return [...both, await c, await d];
    },

    info: async (ctx: Context): Promise<{ id: string; header: string }> => {
      const req = ctx.request();
      return { id: req.id, header: req.headers.get("x-matrix") ?? "" };
    },

    nothing: async (_ctx: Context): Promise<void> => {},

    echo_bytes: handlers.handler(
      { accept: "*/*", input: serde.binary, output: serde.binary },
      async (_ctx: Context, data: Uint8Array): Promise<Uint8Array> => data.slice().reverse(),
    ),
  },
});

// --- Timers ----------------------------------------------------------------------------------

export const timers = service({
  name: "Timers",
  handlers: {
    sleep: async (ctx: Context, ms: number): Promise<string> => {
      await ctx.sleep(ms);
      return `slept ${ms}`;
    },

    /** all() of two timers, then a race between a timer and an awakeable nobody resolves. */
    combo: async (ctx: Context): Promise<string> => {
      await RestatePromise.all([ctx.sleep(100), ctx.sleep(300)]);
      const never = ctx.awakeable<string>().promise;
      return RestatePromise.race([
        ctx.sleep(100).map(() => "combo:timer"),
        never.map(() => "combo:awakeable"),
      ]);
    },

    /** rand/uuid are the same after a suspension and replay. */
    deterministic: async (ctx: Context, ms: number): Promise<boolean> => {
      const value = `${ctx.rand.uuidv4()}-${Math.floor(ctx.rand.random() * 1e9)}`;
      const recorded = await ctx.run("record", () => value);
      await ctx.sleep(ms);
      return recorded === value;
    },

    /** ctx.date.now() is in milliseconds (matrix.py's ctx.time() in seconds). */
    now: async (ctx: Context): Promise<boolean> => (await ctx.date.now()) / 1000 > 1_600_000_000,
  },
});

// --- Failures and retries --------------------------------------------------------------------

export const failures = service({
  name: "Failures",
  handlers: {
    terminal: async (_ctx: Context, code: number): Promise<string> => {
      throw new TerminalError("nope", { errorCode: code });
    },

    /** Fails (retryably) on the first two attempts for `key`. */
    flaky: async (_ctx: Context, key: string): Promise<string> => {
      const n = bump(`flaky-${key}`);
      if (n <= 2) throw new Error(`transient failure attempt ${n}`);
      return `ok after ${n}`;
    },

    retryable: async (_ctx: Context, key: string): Promise<string> => {
      const n = bump(`retryable-${key}`);
      if (n === 1) throw new RetryableError("try again soon", { retryAfter: 50 });
      return `ok after ${n}`;
    },

    run_retry: async (ctx: Context, key: string): Promise<string> => {
      const step = (): string => {
        const n = bump(`run-${key}`);
        if (n <= 2) throw new Error(`step failed ${n}`);
        return `step ok after ${n}`;
      };
      return ctx.run("step", step, { maxRetryAttempts: 5, initialRetryInterval: 50 });
    },

    run_gives_up: async (ctx: Context, _key: string): Promise<string> => {
      try {
        await ctx.run(
          "boom",
          (): string => {
            throw new Error("run boom");
          },
          { maxRetryAttempts: 2 },
        );
      } catch (e) {
        if (e instanceof TerminalError) return `gave up: ${e.message}`;
        throw e;
      }
      return "unreachable";
    },

    run_terminal: async (ctx: Context): Promise<string> => {
      try {
        await ctx.run("no", (): string => {
          throw new TerminalError("step says no", { errorCode: 422 });
        });
      } catch (e) {
        if (e instanceof TerminalError) return `${e.code}:${e.message}`;
        throw e;
      }
      return "unreachable";
    },
  },
});

// --- Virtual objects -------------------------------------------------------------------------

export const counter = object({
  name: "Counter",
  handlers: {
    add: async (ctx: ObjectContext, delta: number): Promise<number> => {
      const count = ((await ctx.get<number>("count")) ?? 0) + delta;
      ctx.set("count", count);
      return count;
    },

    get: handlers.object.shared(
      async (ctx: ObjectSharedContext): Promise<number> => (await ctx.get<number>("count")) ?? 0,
    ),

    keys: async (ctx: ObjectContext): Promise<string[]> => {
      ctx.set("other", "x");
      return (await ctx.stateKeys()).sort();
    },

    reset: async (ctx: ObjectContext): Promise<number> => {
      ctx.clear("other");
      ctx.clearAll();
      return (await ctx.get<number>("count")) ?? 0;
    },

    set_ab: async (ctx: ObjectContext): Promise<void> => {
      ctx.set("a", 1);
      ctx.set("b", 2);
    },

    /** Clears `b`, then lists the keys in the same invocation (from the eager state). */
    clear_b_then_keys: async (ctx: ObjectContext): Promise<string[]> => {
      ctx.clear("b");
      return (await ctx.stateKeys()).sort();
    },
  },
});

export const lazyCounter = object({
  name: "LazyCounter",
  options: { enableLazyState: true },
  handlers: {
    add: async (ctx: ObjectContext, delta: number): Promise<number> => {
      const count = ((await ctx.get<number>("count")) ?? 0) + delta;
      ctx.set("count", count);
      return count;
    },

    keys: async (ctx: ObjectContext): Promise<string[]> => (await ctx.stateKeys()).sort(),
  },
});

export const recorder = object({
  name: "Recorder",
  handlers: {
    record: async (ctx: ObjectContext, line: string): Promise<void> => {
      const lines = (await ctx.get<string[]>("lines")) ?? [];
      ctx.set("lines", [...lines, line]);
    },

    lines: handlers.object.shared(
      async (ctx: ObjectSharedContext): Promise<string[]> => (await ctx.get<string[]>("lines")) ?? [],
    ),
  },
});

// --- Calls, sends, awakeables ----------------------------------------------------------------

/** Calls that target the Calls service itself go through the generic API (no self-referencing type). */
function sendToCalls(ctx: Context, method: string, parameter: unknown) {
  return ctx.genericSend({ service: "Calls", method, parameter, inputSerde: serde.json });
}

export const calls = service({
  name: "Calls",
  handlers: {
    call_and_send: async (ctx: Context, name: string): Promise<string> => {
      const greeting = await ctx.serviceClient(greeter).greet(name);
      ctx.objectSendClient(counter, name).add(1);
      ctx.objectSendClient(counter, name).add(10, rpc.sendOpts({ delay: 200 }));
      return `called:${greeting}`;
    },

    call_terminal: async (ctx: Context): Promise<string> => {
      try {
        await ctx.serviceClient(failures).terminal(418);
      } catch (e) {
        if (e instanceof TerminalError) return `callee failed ${e.code}: ${e.message}`;
        throw e;
      }
      return "unreachable";
    },

    generic: async (ctx: Context, name: string): Promise<string> => {
      const raw = await ctx.genericCall({
        service: "Greeter",
        method: "greet",
        parameter: new TextEncoder().encode(JSON.stringify(name)),
      });
      return new TextDecoder().decode(raw);
    },

    /** Creates an awakeable and asks Calls/complete to resolve or reject it. */
    awake: async (ctx: Context, outcome: string): Promise<string> => {
      const { id, promise } = ctx.awakeable<string>();
      sendToCalls(ctx, "complete", { id, outcome });
      try {
        return `awakeable:${await promise}`;
      } catch (e) {
        if (e instanceof TerminalError) return `rejected:${e.code}:${e.message}`;
        throw e;
      }
    },

    complete: async (ctx: Context, req: { id: string; outcome: string }): Promise<void> => {
      if (req.outcome === "resolve") {
        ctx.resolveAwakeable(req.id, "resolved!");
      } else {
        ctx.rejectAwakeable(req.id, new TerminalError("rejected!", { errorCode: 451 }));
      }
    },

    send_id: async (ctx: Context, name: string): Promise<boolean> => {
      const handle = ctx.serviceSendClient(greeter).greet(name);
      return (await handle.invocationId).startsWith("inv_1");
    },

    /** Records "started", sleeps long; on cancellation records it in Recorder/<key>. */
    victim: async (ctx: Context, key: string): Promise<string> => {
      ctx.objectSendClient(recorder, key).record("started");
      try {
        await ctx.sleep(60_000);
      } catch (e) {
        if (e instanceof TerminalError) ctx.objectSendClient(recorder, key).record(`cancelled ${e.code}`);
        throw e;
      }
      return "woke";
    },

    /** Starts Calls/victim, waits until it runs, then cancels it through a SendSignal command. */
    cancel_victim: async (ctx: Context, key: string): Promise<boolean> => {
      const invocationId = await sendToCalls(ctx, "victim", key).invocationId;
      while (!(await ctx.objectClient(recorder, key).lines()).includes("started")) {
        await ctx.sleep(50);
      }
      ctx.cancel(invocationId);
      return true;
    },

    attach: async (ctx: Context, name: string): Promise<string> => {
      const handle = ctx.serviceSendClient(greeter).greet(name);
      return ctx.attach<string>(await handle.invocationId);
    },

    /** Publishes its awakeable id in Recorder/<key>, waits for someone outside to resolve it. */
    awake_external: async (ctx: Context, key: string): Promise<string> => {
      const { id, promise } = ctx.awakeable<string>();
      ctx.objectSendClient(recorder, key).record(id);
      const value = await promise;
      ctx.objectSendClient(recorder, key).record(`got ${value}`);
      return value;
    },

    idempotent_twice: async (ctx: Context, key: string): Promise<boolean> => {
      const first = ctx.serviceClient(greeter).greet("idem", rpc.opts({ idempotencyKey: key }));
      const second = ctx.serviceClient(greeter).greet("idem", rpc.opts({ idempotencyKey: key }));
      return (await first.invocationId) === (await second.invocationId);
    },
  },
});

// --- Workflow --------------------------------------------------------------------------------

export const signup = workflow({
  name: "Signup",
  handlers: {
    run: async (ctx: WorkflowContext, email: string): Promise<string> => {
      ctx.set("status", "waiting");
      const confirmation = await ctx.promise<string>("confirm");
      ctx.set("status", "confirmed");
      return `confirmed:${email}:${confirmation}`;
    },

    confirm: async (ctx: WorkflowSharedContext, answer: string): Promise<void> => {
      await ctx.promise<string>("confirm").resolve(answer);
    },

    status: async (ctx: WorkflowSharedContext): Promise<string> =>
      (await ctx.get<string>("status")) ?? "unknown",
  },
});

export const services = [greeter, timers, failures, calls, counter, lazyCounter, recorder, signup];
