import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DialectName } from '../../db/database.js';
import type { CollectionDef, StorageClass } from '../collections/collection.js';
import { fieldSchema, storageOf } from '../collections/collection.js';
import { authorsDef, postsDef } from '../query/query-fixtures.test-support.js';
import { arrayRowReader, recordColumns, rowToRecord } from './record-rows.js';

const DIALECTS: readonly DialectName[] = ['sqlite', 'postgres'];

const isoDatetime = fc
  .date({
    min: new Date('0001-01-01T00:00:00.000Z'),
    max: new Date('9999-12-31T23:59:59.999Z'),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString());
const jsonValue = fc.jsonValue({ maxDepth: 2 });

/** A column value as each driver returns it for a column of `storage` (NULL included). */
function rawValue(storage: StorageClass, dialect: DialectName): fc.Arbitrary<unknown> {
  const value = (() => {
    switch (storage) {
      case 'text':
        return fc.string();
      case 'integer':
        // pg returns bigint as text; better-sqlite3 a number.
        return dialect === 'postgres' ? fc.maxSafeInteger().map(String) : fc.maxSafeInteger();
      case 'float':
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'boolean':
        return dialect === 'postgres' ? fc.boolean() : fc.constantFrom(0, 1);
      case 'datetime':
        // Groundwork's own form, and foreign forms that need the full parse.
        return fc.oneof(
          isoDatetime,
          isoDatetime.map((s) => s.replace('T', ' ').replace('Z', '+00:00')),
        );
      case 'json':
        // pg has parsed jsonb already; SQLite holds JSON text.
        return dialect === 'postgres' ? jsonValue : jsonValue.map((v) => JSON.stringify(v));
    }
  })();
  return fc.option(value as fc.Arbitrary<unknown>, { nil: null, freq: 4 });
}

function rowArbitrary(def: CollectionDef, dialect: DialectName): fc.Arbitrary<Record<string, unknown>> {
  const columns: Record<string, fc.Arbitrary<unknown>> = {
    id: fc.uuid(),
    created: isoDatetime,
    updated: isoDatetime,
    _version: fc.integer({ min: 1 }),
  };
  for (const field of def.fields) columns[field.name] = rawValue(storageOf(field), dialect);
  return fc.record(columns);
}

describe('arrayRowReader', () => {
  for (const dialect of DIALECTS) {
    for (const def of [authorsDef, postsDef]) {
      it(`reads the same record as rowToRecord (${dialect}, ${def.name}: every storage class, NULLs)`, () => {
        const read = arrayRowReader(def, dialect);
        const columns = recordColumns(def);
        fc.assert(
          fc.property(rowArbitrary(def, dialect), (row) => {
            const expected = rowToRecord(def, row, dialect);
            const actual = read(columns.map((column) => row[column]));
            expect(actual).toEqual(expected);
            // Same keys in the same order: the JSON text of a response is the same.
            expect(JSON.stringify(actual.record)).toBe(JSON.stringify(expected.record));
          }),
          { numRuns: 200 },
        );
      });
    }
  }

  it('lists the system columns first, then the fields in definition order', () => {
    expect(recordColumns(authorsDef)).toEqual([
      'id',
      'created',
      'updated',
      '_version',
      ...authorsDef.fields.map((field) => field.name),
    ]);
  });

  it('is built per definition object, so a changed collection is read with its new fields', () => {
    const read = arrayRowReader(authorsDef, 'sqlite');
    expect(arrayRowReader(authorsDef, 'sqlite')).toBe(read);
    expect(arrayRowReader(authorsDef, 'postgres')).not.toBe(read);
    const changed: CollectionDef = {
      ...authorsDef,
      fields: [...authorsDef.fields, fieldSchema.parse({ name: 'nickname', type: 'text' })],
    };
    const values: Record<string, unknown> = {
      id: 'r1',
      created: '2024-01-01T00:00:00.000Z',
      updated: '2024-01-01T00:00:00.000Z',
      _version: 3,
      nickname: 'ada',
    };
    const row = recordColumns(changed).map((column) => values[column] ?? null);
    const { record, version } = arrayRowReader(changed, 'sqlite')(row);
    expect(version).toBe(3);
    expect(record.nickname).toBe('ada');
    expect(Object.keys(record).at(-1)).toBe('nickname');
  });
});
