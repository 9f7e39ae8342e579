/**
 * A component is anything with resources to open and release: a database pool, an HTTP listener,
 * a background timer. `start` and `close` are idempotent.
 */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Readiness of an external dependency; resolves to an error message when not ready. */
  check?(): Promise<string | undefined>;
}

/**
 * Starts components in the order given (dependencies first) and closes them in reverse.
 * A failed start closes what had started, then rethrows. `close` runs at most once.
 */
export class Lifecycle {
  readonly #components: Component[] = [];
  readonly #started: Component[] = [];
  #state: 'new' | 'starting' | 'started' | 'closing' | 'closed' = 'new';
  #closing: Promise<void> | undefined;

  add<C extends Component>(component: C): C {
    if (this.#state !== 'new')
      throw new Error(`cannot add ${component.name}: lifecycle already ${this.#state}`);
    this.#components.push(component);
    return component;
  }

  get components(): readonly Component[] {
    return this.#components;
  }

  get state(): string {
    return this.#state;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    for (const component of this.#components) {
      if (this.#state !== 'starting') break; // closed while starting
      try {
        await component.start();
        this.#started.push(component);
      } catch (error) {
        await this.close();
        throw error;
      }
    }
    if (this.#state === 'starting') this.#state = 'started';
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    this.#state = 'closing';
    const errors: unknown[] = [];
    for (const component of [...this.#started].reverse()) {
      try {
        await component.close();
      } catch (error) {
        errors.push(error);
      }
    }
    this.#state = 'closed';
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several components failed to close');
  }
}
