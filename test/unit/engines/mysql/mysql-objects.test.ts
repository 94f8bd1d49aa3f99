import { describe, expect, it } from 'vitest';
import { creationOrder, describeMysqlObjects, type MysqlObject } from '../../../../src/engines/mysql/objects.js';

const obj = (kind: MysqlObject['kind'], name: string, definition = `CREATE ${kind} \`${name}\``): MysqlObject => ({
  kind,
  name,
  definition,
  sqlMode: null,
  timeZone: null,
  characterSetClient: 'utf8mb4',
  collationConnection: 'utf8mb4_general_ci',
});

describe('creationOrder', () => {
  it('creates functions and procedures first, views after the views they use, then triggers and events', () => {
    const objects = [
      obj('event', 'ev'),
      obj('trigger', 't_bi'),
      obj('view', 'a_top', 'CREATE VIEW `a_top` AS select `mid`.`id` from `mid`'),
      obj('view', 'mid', 'CREATE VIEW `mid` AS select `base`.`id` from `base`'),
      obj('view', 'base', 'CREATE VIEW `base` AS select `t`.`id`, `dbl`(`t`.`n`) from `t`'),
      obj('procedure', 'p'),
      obj('function', 'dbl'),
    ];
    expect(creationOrder(objects).map((o) => `${o.kind}:${o.name}`)).toEqual([
      'function:dbl',
      'procedure:p',
      'view:base',
      'view:mid',
      'view:a_top',
      'trigger:t_bi',
      'event:ev',
    ]);
  });

  it('keeps every view once even when names overlap or reference each other oddly', () => {
    const objects = [
      obj('view', 'v', 'CREATE VIEW `v` AS select 1 AS `v`'),
      obj('view', 'v2', 'CREATE VIEW `v2` AS select `v`.`v` from `v`'),
    ];
    expect(creationOrder(objects).map((o) => o.name)).toEqual(['v', 'v2']);
  });
});

describe('describeMysqlObjects', () => {
  it('counts objects by kind', () => {
    expect(describeMysqlObjects([])).toBe('no triggers, views, routines or events');
    expect(describeMysqlObjects([obj('trigger', 'a'), obj('trigger', 'b'), obj('view', 'v')])).toBe(
      '2 triggers, 1 view',
    );
  });
});
