import { formatCell, formatRows, printServerTable, renderTable, tableToRows, type ServerTable } from './table.js';

const table: ServerTable = {
  kind: 'Table',
  apiVersion: 'meta.k8s.io/v1',
  metadata: { resourceVersion: '10' },
  columnDefinitions: [
    { name: 'Name', type: 'string', format: 'name', priority: 0 },
    { name: 'Phase', type: 'string', format: '', priority: 0 },
    { name: 'CPU', type: 'integer', format: '', priority: 0 },
    { name: 'Age', type: 'string', format: 'date', priority: 0 },
    { name: 'Managed', type: 'boolean', format: '', priority: 1 },
    { name: 'IP', type: 'string', format: '', priority: 1 },
  ],
  rows: [
    { cells: ['web', 'Running', 2, '5m', true, '10.0.0.5'], object: { metadata: { name: 'web', namespace: 'prod', labels: { app: 'web', tier: 'front' } } } },
    { cells: ['database-01', '', 1, '3d', null, ''], object: { metadata: { name: 'database-01', namespace: 'default' } } },
  ],
};

describe('formatRows', () => {
  it('pads to the widest cell, three spaces apart, last column unpadded', () => {
    expect(
      formatRows([
        ['NAME', 'PHASE'],
        ['a', 'Running'],
        ['longer-name', 'x'],
      ]),
    ).toEqual(['NAME          PHASE', 'a             Running', 'longer-name   x']);
  });

  it('keeps minimum widths (watch rows stay aligned with the header)', () => {
    expect(formatRows([['a', 'b']], [5, 1])).toEqual(['a       b']);
  });

  it('trims trailing blanks of empty last cells', () => {
    expect(
      formatRows([
        ['NAME', 'IP'],
        ['web', ''],
      ]),
    ).toEqual(['NAME   IP', 'web']);
  });
});

describe('formatCell', () => {
  it.each([
    [null, '<none>'],
    [undefined, '<none>'],
    [true, 'true'],
    [3, '3'],
    ['a\nb', 'a b'],
    [['x', 'y'], 'x,y'],
    [{ a: 1 }, '{"a":1}'],
  ])('%j → %s', (value, text) => expect(formatCell(value)).toBe(text));

  it('turns RFC 3339 timestamps in date columns into ages', () => {
    const now = new Date('2026-01-01T01:00:00Z');
    expect(formatCell('2026-01-01T00:55:00Z', { name: 'Age', type: 'string', format: 'date' }, now)).toBe('5m');
    expect(formatCell('5m', { name: 'Age', type: 'string', format: 'date' }, now)).toBe('5m');
    expect(formatCell('2026-01-01T00:55:00Z', { name: 'X', type: 'string' }, now)).toBe('2026-01-01T00:55:00Z');
  });
});

describe('server tables', () => {
  it('shows priority-0 columns with upper-case headers', () => {
    expect(printServerTable(table)).toEqual(['NAME          PHASE     CPU   AGE', 'web           Running   2     5m', 'database-01             1     3d']);
  });

  it('-o wide adds priority-1 columns; nil cells are <none>', () => {
    expect(printServerTable(table, { wide: true })).toEqual([
      'NAME          PHASE     CPU   AGE   MANAGED   IP',
      'web           Running   2     5m    true      10.0.0.5',
      'database-01             1     3d    <none>',
    ]);
  });

  it('-A adds NAMESPACE first, --show-labels adds LABELS last, several types prefix names', () => {
    const { header, rows } = tableToRows(table, { withNamespace: true, showLabels: true, namePrefix: 'virtualmachine.quantix.io/' });
    expect(header).toEqual(['NAMESPACE', 'NAME', 'PHASE', 'CPU', 'AGE', 'LABELS']);
    expect(rows[0]).toEqual(['prod', 'virtualmachine.quantix.io/web', 'Running', '2', '5m', 'app=web,tier=front']);
    expect(rows[1]).toEqual(['default', 'virtualmachine.quantix.io/database-01', '', '1', '3d', '<none>']);
  });

  it('--no-headers drops the header', () => {
    expect(printServerTable(table, { noHeaders: true })).toHaveLength(2);
  });

  it('renders a local table', () => {
    expect(renderTable(['name', 'type'], [['a', 'dir']])).toBe('NAME   TYPE\na      dir');
  });
});
