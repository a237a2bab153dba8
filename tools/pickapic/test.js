// test.js: the Pick-a-Pic converter on tests/data/pickapic/tiny.parquet (a
// committed snappy shard in Pick-a-Pic v2's schema, make_test_parquet.js) and on
// bad shards written here. Run by ctest through run_test.sh: node --test test.js
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'node:test'
import { fileURLToPath } from 'node:url'
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet'
import { convert, InputError } from './pickapic_to_manifest.js'
import { IMAGES, pickapicColumns, writeShard } from './make_test_parquet.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const tests = path.join(here, '..', '..', 'tests')
const tiny = path.join(tests, 'data', 'pickapic', 'tiny.parquet')
const converter = path.join(here, 'pickapic_to_manifest.js')

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vkpref-pickapic-'))
}
const rows = (dir) => fs.readFileSync(path.join(dir, 'pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
// What convert leaves beside the images: only a whole manifest, never a temporary file.
const leftovers = (dir) => fs.readdirSync(dir).filter((f) => f !== 'img')

test('the committed shard is snappy-compressed in Pick-a-Pic v2 columns', async () => {
  const meta = await parquetMetadataAsync(await asyncBufferFromFile(tiny))
  assert.equal(Number(meta.num_rows), 5)
  assert.ok(meta.row_groups.length > 1, 'several row groups')
  for (const g of meta.row_groups) for (const c of g.columns) assert.equal(c.meta_data.codec, 'SNAPPY')
})

test('decided pairs are written with their images; ties and unlabelled rows are skipped', async () => {
  const out = tempDir()
  const c = await convert({ shards: [tiny], out })
  assert.deepEqual(c, { pairs: 3, ties: 1, unlabelled: 1, bad: 0, rows: 5 })
  const r = rows(out)
  assert.deepEqual(r.map((x) => [x.label_0, x.label_1]), [[1, 0], [0, 1], [1, 0]])
  assert.deepEqual(r.map((x) => x.caption), [0, 1, 4].map((i) => `a photo of caption ${i}, "quoted" é`))
  // The bytes as stored, named by their content's kind, relative to the manifest's folder.
  for (const [k, row] of [[0, 0], [1, 1], [2, 4]]) {
    for (const j of [0, 1]) {
      const rel = r[k][`jpg_${j}`]
      assert.match(rel, new RegExp(`^img/tiny/000000${row}_${j}\\.${IMAGES[row][j].endsWith('.png') ? 'png' : 'jpg'}$`))
      assert.deepEqual(fs.readFileSync(path.join(out, rel)), fs.readFileSync(path.join(tests, IMAGES[row][j])))
    }
  }
  // Optional columns are copied (int64 as numbers, timestamps as ISO text); URLs are not.
  assert.equal(r[0].user_id, 7)
  assert.equal(r[2].ranking_id, 100004)
  assert.equal(r[1].best_image_uid, 'uid-1-1')
  assert.equal(r[0].created_at, '2023-05-01T00:00:00.000Z')
  assert.equal(r[0].image_0_url, undefined)
  assert.deepEqual(leftovers(out), ['pairs.jsonl'])
  fs.rmSync(out, { recursive: true })
})

test('--limit keeps the first N pairs; an existing manifest needs --overwrite', async () => {
  const out = tempDir()
  assert.equal((await convert({ shards: [tiny], out, limit: 2 })).pairs, 2)
  assert.equal(rows(out).length, 2)
  await assert.rejects(convert({ shards: [tiny], out }), (e) => e instanceof InputError && /pairs\.jsonl exists.*--overwrite/.test(e.message))
  assert.equal(rows(out).length, 2, 'the earlier manifest is untouched')
  assert.equal((await convert({ shards: [tiny], out, overwrite: true })).pairs, 3)
  fs.rmSync(out, { recursive: true })
})

test('bad rows stop the conversion naming the shard and row, and leave no manifest', async () => {
  const dir = tempDir()
  const shard = path.join(dir, 'bad.parquet')
  const cols = pickapicColumns(5)
  cols.find((c) => c.name === 'jpg_1').data[4] = new TextEncoder().encode('not an image')
  writeShard(shard, cols)
  const out = path.join(dir, 'out')
  await assert.rejects(convert({ shards: [shard], out }),
    (e) => e instanceof InputError && e.message.startsWith(`${shard}: row 4: jpg_1 is not a JPEG or PNG`))
  assert.deepEqual(leftovers(out), [])
  // With --skip-bad-rows the row is counted and the rest kept.
  const c = await convert({ shards: [shard], out, skipBad: true })
  assert.deepEqual(c, { pairs: 2, ties: 1, unlabelled: 1, bad: 1, rows: 5 })
  fs.rmSync(dir, { recursive: true })
})

test('labels must be numbers and captions text', async () => {
  const dir = tempDir()
  const shard = path.join(dir, 'labels.parquet')
  writeShard(shard, pickapicColumns(2, {
    label_1: { data: [0, null], type: 'DOUBLE' },
  }))
  await assert.rejects(convert({ shards: [shard], out: path.join(dir, 'a') }),
    (e) => e.message === `${shard}: row 1: label_1 is null, not a number`)
  writeShard(shard, pickapicColumns(2, { caption: { data: ['ok', null], type: 'STRING' } }))
  await assert.rejects(convert({ shards: [shard], out: path.join(dir, 'b') }),
    (e) => e.message === `${shard}: row 1: caption is null, not text`)
  fs.rmSync(dir, { recursive: true })
})

test('a shard without the Pick-a-Pic columns, or not parquet at all, is named', async () => {
  const dir = tempDir()
  const shard = path.join(dir, 'other.parquet')
  writeShard(shard, pickapicColumns(2, { jpg_1: undefined, label_1: undefined }))
  await assert.rejects(convert({ shards: [shard], out: path.join(dir, 'a') }),
    (e) => e.message.startsWith(`${shard}: missing column(s) jpg_1, label_1`))
  const text = path.join(dir, 'text.parquet')
  fs.writeFileSync(text, 'caption,jpg_0\n')
  await assert.rejects(convert({ shards: [text], out: path.join(dir, 'b') }),
    (e) => e.message.startsWith(`${text}: cannot read as parquet`))
  fs.rmSync(dir, { recursive: true })
})

test('the command line: exit status 0 with a summary, 1 with the reason', () => {
  const out = tempDir()
  let p = spawnSync(process.execPath, [converter, tiny, '--out', out, '--limit', '1'], { encoding: 'utf8' })
  assert.equal(p.status, 0, p.stderr)
  assert.match(p.stdout, /wrote .*pairs\.jsonl: 1 pairs from 1 rows/)
  p = spawnSync(process.execPath, [converter, tiny, '--out', out], { encoding: 'utf8' })
  assert.equal(p.status, 1)
  assert.match(p.stderr, /^pickapic: .*pairs\.jsonl exists/)
  p = spawnSync(process.execPath, [converter, tiny, '--out', out, '--limit', 'x'], { encoding: 'utf8' })
  assert.equal(p.status, 1)
  assert.match(p.stderr, /--limit x/)
  p = spawnSync(process.execPath, [converter, '--out', out], { encoding: 'utf8' })
  assert.equal(p.status, 1)
  assert.match(p.stderr, /usage:/)
  fs.rmSync(out, { recursive: true })
})
