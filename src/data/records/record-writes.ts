import { type Kysely, type SqlBool, sql } from 'kysely';
import { GroundworkError } from '../../core/errors.js';
import type { AnyDb, Database } from '../../db/database.js';
import type { Principal } from '../../gateway/principal.js';
import { type RuleDecision, type RuleScope, ruleFor } from '../access/rules.js';
import { isAuthCollection, isAuthField, normalizeEmail } from '../collections/auth-collection.js';
import type { CollectionDef, FieldDef } from '../collections/collection.js';
import type { CollectionRegistry } from '../collections/collection-registry.js';
import { VERSION_COLUMN } from '../collections/ddl.js';
import type { ChangeEvent } from '../outbox/outbox.js';
import { idsParameter } from './expand.js';
import { newRecordId } from './record-id.js';
import {
  type ApiRecord,
  etagOf,
  ifMatchAllows,
  rowToRecord,
  type StoredRecord,
  valuesToRow,
} from './record-rows.js';
import { type FieldIssue, validateRecordInput, type WriteMode } from './record-validation.js';
import { findRecord, recordNotFound } from './records.js';

/** A write transaction in progress: its handle and the change events it will append to the outbox. */
export interface WriteContext {
  readonly trx: Kysely<AnyDb>;
  readonly events: ChangeEvent[];
}

/**
 * Runs inside the write transaction when a record is deleted (after its references were handled):
 * other blocks drop their own rows about it there (auth: a user's credentials, sessions, keys).
 */
export type DeleteHook = (trx: Kysely<AnyDb>, def: CollectionDef, id: string) => Promise<void>;

/** Most records a cascading delete may touch before it is refused (a runaway cascade is an error). */
const MAX_CASCADE = 10_000;

/**
 * Record writes: create, update (patch/replace) and delete inside the caller's transaction, with
 * validation (every invalid field reported), relation checks, access rules in SQL, If-Match, the
 * on-delete behaviour of relations pointing here, and one outbox event per changed record.
 */
export class RecordWriter {
  readonly #database: Database;
  readonly #registry: CollectionRegistry;
  readonly #deleteHooks: DeleteHook[] = [];

  constructor(deps: { database: Database; registry: CollectionRegistry }) {
    this.#database = deps.database;
    this.#registry = deps.registry;
  }

  /** Adds a hook run in the transaction of every record delete (cascaded ones included). */
  onDelete(hook: DeleteHook): void {
    this.#deleteHooks.push(hook);
  }

  #scope(principal: Principal): RuleScope {
    return { principal, dialect: this.#database.dialect, resolve: (name) => this.#registry.get(name) };
  }

  async create(
    w: WriteContext,
    def: CollectionDef,
    body: unknown,
    principal: Principal,
    options: { signUp?: boolean } = {},
  ): Promise<StoredRecord> {
    const scope = this.#scope(principal);
    const rule = ruleFor(def, 'create', scope);
    if (isAuthCollection(def) && principal.kind !== 'admin' && !options.signUp)
      throw authFieldError(
        `Users of "${def.name}" sign up with POST /api/v1/collections/${def.name}/auth/sign-up.`,
      );
    const input = validateRecordInput(def.fields, body, 'create');
    if ('issues' in input) throw invalidRecord(input.issues);
    normalizeAuthValues(def, input.values);
    await this.#checkRelations(w, def.fields, input.values);
    const now = new Date().toISOString();
    const row = {
      id: input.id ?? newRecordId(),
      created: now,
      updated: now,
      [VERSION_COLUMN]: 1,
      ...valuesToRow(def.fields, input.values, scope.dialect),
    };
    const inserted = await w.trx.insertInto(def.name).values(row).returningAll().executeTakeFirstOrThrow();
    const stored = rowToRecord(def, inserted, scope.dialect);
    await this.#checkNewValue(w, def, stored.record.id, rule);
    w.events.push({
      collection: def.name,
      recordId: stored.record.id,
      op: 'create',
      data: stored.record,
      old: null,
    });
    return stored;
  }

  /**
   * A create known in full before it runs: the caller needs no check of the new row (admin, or
   * create rule `""`), no relation value must be checked to exist, and no field is `json` (whose
   * object keys PostgreSQL's jsonb would reorder). Returns its row, record and event — to be
   * group-committed with its outbox row (`GroupCommit`) — or undefined when the
   * create needs the transactional path (`create`). Validation errors are thrown as by `create`.
   */
  prepareBlindCreate(
    def: CollectionDef,
    body: unknown,
    principal: Principal,
  ): { row: Record<string, unknown>; stored: StoredRecord; event: ChangeEvent } | undefined {
    if (isAuthCollection(def) || def.fields.some((f) => f.type === 'json')) return undefined;
    const rule = ruleFor(def, 'create', this.#scope(principal));
    if (rule.kind !== 'all') return undefined;
    const input = validateRecordInput(def.fields, body, 'create');
    if ('issues' in input) throw invalidRecord(input.issues);
    for (const field of def.fields) {
      if (field.type !== 'relation') continue;
      const value = input.values[field.name];
      if (value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0))
        return undefined;
    }
    const now = new Date().toISOString();
    const id = input.id ?? newRecordId();
    const record: ApiRecord = { id, created: now, updated: now };
    for (const field of def.fields) record[field.name] = input.values[field.name] ?? null;
    const row = {
      id,
      created: now,
      updated: now,
      [VERSION_COLUMN]: 1,
      ...valuesToRow(def.fields, input.values, this.#database.dialect),
    };
    return {
      row,
      stored: { record, version: 1 },
      event: { collection: def.name, recordId: id, op: 'create', data: record, old: null },
    };
  }

  async update(
    w: WriteContext,
    def: CollectionDef,
    id: string,
    body: unknown,
    mode: Exclude<WriteMode, 'create'>,
    ifMatch: string | undefined,
    principal: Principal,
  ): Promise<StoredRecord> {
    const scope = this.#scope(principal);
    const rule = ruleFor(def, 'update', scope);
    const current = await findRecord(w.trx, this.#database, def, id, rule, true);
    if (!current) throw recordNotFound(def, id);
    if (!ifMatchAllows(ifMatch, etagOf(current))) throw preconditionFailed(current);
    const input = validateRecordInput(def.fields, body, mode);
    if ('issues' in input) throw invalidRecord(input.issues);
    if (principal.kind !== 'admin') {
      const field = Object.keys(input.values).find((name) => isAuthField(def, name));
      if (field !== undefined)
        throw authFieldError(`"${field}" of an auth collection changes through the auth routes, not here.`);
    }
    normalizeAuthValues(def, input.values);
    await this.#checkRelations(w, def.fields, input.values);
    const updated = await w.trx
      .updateTable(def.name)
      .set({
        ...valuesToRow(def.fields, input.values, scope.dialect),
        updated: new Date().toISOString(),
        [VERSION_COLUMN]: current.version + 1,
      })
      .where('id', '=', id)
      .where(VERSION_COLUMN, '=', current.version)
      .returningAll()
      .executeTakeFirst();
    // On PostgreSQL the row is locked since findRecord; on SQLite the transaction is the only writer.
    if (!updated) throw preconditionFailed(current);
    const stored = rowToRecord(def, updated, scope.dialect);
    await this.#checkNewValue(w, def, id, rule);
    w.events.push({
      collection: def.name,
      recordId: id,
      op: 'update',
      data: stored.record,
      old: current.record,
    });
    return stored;
  }

  async delete(
    w: WriteContext,
    def: CollectionDef,
    id: string,
    ifMatch: string | undefined,
    principal: Principal,
  ): Promise<void> {
    const rule = ruleFor(def, 'delete', this.#scope(principal));
    const current = await findRecord(w.trx, this.#database, def, id, rule, true);
    if (!current) throw recordNotFound(def, id);
    if (!ifMatchAllows(ifMatch, etagOf(current))) throw preconditionFailed(current);
    await this.#deleteWithReferences(w, def, current, new Set());
  }

  /** Applies onDelete of every relation pointing at the record (recording events), then deletes it. */
  async #deleteWithReferences(w: WriteContext, def: CollectionDef, current: StoredRecord, seen: Set<string>) {
    const id = current.record.id;
    seen.add(`${def.name}/${id}`);
    if (seen.size > MAX_CASCADE)
      throw new GroundworkError('DATA_ERR_SCHEMA_CONFLICT', {
        detail: `Deleting this record would cascade to more than ${MAX_CASCADE} records.`,
      });
    const dialect = this.#database.dialect;
    for (const owner of this.#registry.list()) {
      for (const field of owner.fields) {
        if (field.type !== 'relation' || field.collection !== def.name) continue;
        const refs = await w.trx
          .selectFrom(owner.name)
          .selectAll(owner.name)
          .where(
            field.multiple
              ? containsId(owner.name, field.name, id, dialect)
              : sql<SqlBool>`${sql.ref(`${owner.name}.${field.name}`)} = ${id}`,
          )
          .execute();
        const referencing = refs
          .map((row) => rowToRecord(owner, row, dialect))
          .filter((r) => !seen.has(`${owner.name}/${r.record.id}`));
        if (referencing.length === 0) continue;
        if (field.onDelete === 'restrict') {
          throw new GroundworkError('DATA_ERR_REFERENCED', {
            detail: `Records of "${owner.name}" refer to this record through "${field.name}" (onDelete: restrict).`,
          });
        }
        for (const ref of referencing) {
          if (field.onDelete === 'cascade') {
            await this.#deleteWithReferences(w, owner, ref, seen);
          } else {
            const value = field.multiple
              ? (ref.record[field.name] as string[]).filter((x) => x !== id)
              : null;
            const row = await w.trx
              .updateTable(owner.name)
              .set({
                ...valuesToRow([field], { [field.name]: value }, dialect),
                updated: new Date().toISOString(),
                [VERSION_COLUMN]: ref.version + 1,
              })
              .where('id', '=', ref.record.id)
              .returningAll()
              .executeTakeFirstOrThrow();
            const after = rowToRecord(owner, row, dialect);
            w.events.push({
              collection: owner.name,
              recordId: ref.record.id,
              op: 'update',
              data: after.record,
              old: ref.record,
            });
          }
        }
      }
    }
    await w.trx.deleteFrom(def.name).where('id', '=', id).execute();
    for (const hook of this.#deleteHooks) await hook(w.trx, def, id);
    w.events.push({ collection: def.name, recordId: id, op: 'delete', data: null, old: current.record });
  }

  /** Every relation value must name existing records; on PostgreSQL they are key-share locked. */
  async #checkRelations(w: WriteContext, fields: readonly FieldDef[], values: Record<string, unknown>) {
    const issues: FieldIssue[] = [];
    for (const field of fields) {
      if (field.type !== 'relation') continue;
      const value = values[field.name];
      const ids = typeof value === 'string' ? [value] : Array.isArray(value) ? (value as string[]) : [];
      if (ids.length === 0) continue;
      const target = this.#registry.get(field.collection);
      if (!target) {
        issues.push({
          field: field.name,
          code: 'relation_not_found',
          message: 'the related collection no longer exists',
        });
        continue;
      }
      let query = w.trx
        .selectFrom(target.name)
        .select(`${target.name}.id`)
        .where(
          sql<SqlBool>`${sql.ref(`${target.name}.id`)} in (${idsParameter(ids, this.#database.dialect)})`,
        );
      if (this.#database.dialect === 'postgres') query = query.forKeyShare();
      const found = new Set((await query.execute()).map((row) => String(row.id)));
      const missing = ids.filter((x) => !found.has(x));
      if (missing.length > 0)
        issues.push({
          field: field.name,
          code: 'relation_not_found',
          message: `no record ${missing.slice(0, 3).join(', ')} in "${target.name}"`,
        });
    }
    if (issues.length > 0) throw invalidRecord(issues);
  }

  /** A create/update rule must also hold for the new value, checked in SQL inside the transaction. */
  async #checkNewValue(w: WriteContext, def: CollectionDef, id: string, rule: RuleDecision) {
    if (rule.kind === 'all') return;
    const row = await w.trx
      .selectFrom(def.name)
      .select(sql<number>`1`.as('ok'))
      .where(`${def.name}.id`, '=', id)
      .where(rule.condition)
      .executeTakeFirst();
    if (!row)
      throw new GroundworkError('AUTH_ERR_FORBIDDEN', {
        detail: `The new value does not satisfy "${def.name}"'s rule for this operation.`,
      });
  }
}

function containsId(table: string, column: string, id: string, dialect: Database['dialect']) {
  const ref = sql.ref(`${table}.${column}`);
  return dialect === 'postgres'
    ? sql<SqlBool>`${ref} @> ${JSON.stringify([id])}::jsonb`
    : sql<SqlBool>`exists (select 1 from json_each(${ref}) where value = ${id})`;
}

export function invalidRecord(issues: readonly FieldIssue[]): GroundworkError {
  const first = issues[0];
  return new GroundworkError('DATA_ERR_VALIDATION', {
    detail:
      issues.length === 1 && first
        ? `${first.field || 'body'}: ${first.message}`
        : `${issues.length} fields are invalid; see errors.`,
    extensions: { errors: issues },
  });
}

function preconditionFailed(current: StoredRecord): GroundworkError {
  return new GroundworkError('DATA_ERR_PRECONDITION_FAILED', {
    detail: 'The record changed since the version named in If-Match.',
    headers: { etag: etagOf(current) },
  });
}

function authFieldError(detail: string): GroundworkError {
  return new GroundworkError('DATA_ERR_AUTH_FIELD', { detail });
}

function normalizeAuthValues(def: CollectionDef, values: Record<string, unknown>): void {
  if (isAuthCollection(def) && typeof values.email === 'string') values.email = normalizeEmail(values.email);
}
