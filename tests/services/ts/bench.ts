/**
 * The benchmark's services (tests/services/bench.py) on the official TypeScript SDK, for `make bench`'s
 * TypeScript flavour (`python -m bench --service ts`): same names, inputs and results. Node's SDK costs
 * far less per request than the Python SDK under hypercorn, so the figures show more of the server's cost.
 */

import { type Context, type ObjectContext, object, RestatePromise, service } from "@restatedev/restate-sdk";

const bench = service({
  name: "Bench",
  handlers: {
    noop: async (_ctx: Context, n: number): Promise<number> => n,

    steps3: async (ctx: Context, n: number): Promise<number> => {
      let total = n;
      total += await ctx.run("step1", () => 1);
      total += await ctx.run("step2", () => 1);
      total += await ctx.run("step3", () => 1);
      return total;
    },

    sleep10: async (ctx: Context, n: number): Promise<number> => {
      await ctx.sleep(10);
      return n;
    },

    fanout10: async (ctx: Context, n: number): Promise<number> => {
      // A client by name (the service's own definition cannot name itself while it is being defined).
      const self = ctx.serviceClient<{ noop: (n: number) => Promise<number> }>({ name: "Bench" });
      const calls = Array.from({ length: 10 }, (_, i) => self.noop(i));
      const results = await RestatePromise.all(calls);
      return results.reduce((sum, v) => sum + v, n);
    },
  },
});

const benchObject = object({
  name: "BenchObject",
  handlers: {
    getset: async (ctx: ObjectContext, n: number): Promise<number> => {
      const value = ((await ctx.get<number>("n")) ?? 0) + n;
      ctx.set("n", value);
      return value;
    },
  },
});

export const services = [bench, benchObject];
