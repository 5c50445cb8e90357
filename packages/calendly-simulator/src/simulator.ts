import { buildSimulatorApp } from './app.ts';
import { createSimulatorControl, type SimulatorControl } from './control-client.ts';
import { createDispatcher } from './delivery.ts';
import { initialSettings, resolveOptions, type SimulatorOptions } from './options.ts';
import { createRateLimiter } from './rate-limiter.ts';
import { createState } from './state.ts';

export interface Simulator {
  /** Both the API base URL and the OAuth base URL, e.g. http://127.0.0.1:43121. */
  url: string;
  /** Stops the server and every pending delivery. */
  close(): Promise<void>;
  control: SimulatorControl;
}

export async function startSimulator(input: SimulatorOptions = {}): Promise<Simulator> {
  const options = resolveOptions(input);
  const state = createState(
    createRateLimiter(options.now),
    createRateLimiter(options.now),
    initialSettings(options),
  );
  const dispatcher = createDispatcher(state, options);
  const app = buildSimulatorApp({ state, options, dispatcher });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('simulator is not listening on a TCP port');
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  options.logger.info(`calendly simulator listening on ${url}`);
  return {
    url,
    control: createSimulatorControl(url),
    async close() {
      dispatcher.close();
      await app.close();
    },
  };
}
