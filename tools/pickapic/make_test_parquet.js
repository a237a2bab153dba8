#!/usr/bin/env node
// make_test_parquet.js: writes tests/data/pickapic/tiny.parquet, a Pick-a-Pic v2
// shard in miniature (the same columns and types, snappy-compressed as the real
// shards are, two rows a row group) for test.js:
//   row 0: jpg_0 preferred (1/0), JPEG and progressive JPEG
//   row 1: jpg_1 preferred (0/1), PNG and grey JPEG
//   row 2: a tie (0.5/0.5), skipped
//   row 3: has_label false, skipped
//   row 4: jpg_0 preferred, palette PNG and RGBA PNG
// The images are small files of the C tests (IMAGES: paths under tests/).
//   node tools/pickapic/make_test_parquet.js [OUT.parquet]
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parquetWriteFile } from 'hyparquet-writer'

const here = path.dirname(fileURLToPath(import.meta.url))
const data = path.join(here, '..', '..', 'tests', 'data')

export const IMAGES = [
  ['fuzz/corpus/fuzz_image/rgb.jpg', 'fuzz/corpus/fuzz_image/progressive.jpg'],
  ['data/images/rgb8.png', 'fuzz/corpus/fuzz_image/grey.jpg'],
  ['data/images/grey8.png', 'data/images/rgb16.png'],
  ['data/images/grey16.png', 'data/images/grey_alpha.png'],
  ['data/images/palette.png', 'data/images/rgba8.png'],
]
export const LABELS = [[1, 0], [0, 1], [0.5, 0.5], [0, 0], [1, 0]]
export const HAS_LABEL = [true, true, true, false, true]

const read = (rel) => new Uint8Array(fs.readFileSync(path.join(here, '..', '..', 'tests', rel)))

/** Pick-a-Pic v2's columns for n rows; override replaces or adds columns by name. */
export function pickapicColumns(n, override = {}) {
  const rows = [...Array(n).keys()]
  const columns = {
    are_different: { data: rows.map(() => true), type: 'BOOLEAN' },
    best_image_uid: { data: rows.map((i) => `uid-${i}-${LABELS[i % 5][0] >= LABELS[i % 5][1] ? 0 : 1}`), type: 'STRING' },
    caption: { data: rows.map((i) => `a photo of caption ${i}, "quoted" é`), type: 'STRING' },
    created_at: { data: rows.map((i) => new Date(Date.UTC(2023, 4, 1 + i))), type: 'TIMESTAMP' },
    has_label: { data: rows.map((i) => HAS_LABEL[i % 5]), type: 'BOOLEAN' },
    image_0_uid: { data: rows.map((i) => `uid-${i}-0`), type: 'STRING' },
    image_0_url: { data: rows.map((i) => `https://example.invalid/${i}_0.jpg`), type: 'STRING' },
    image_1_uid: { data: rows.map((i) => `uid-${i}-1`), type: 'STRING' },
    image_1_url: { data: rows.map((i) => `https://example.invalid/${i}_1.jpg`), type: 'STRING' },
    jpg_0: { data: rows.map((i) => read(IMAGES[i % 5][0])), type: 'BYTE_ARRAY' },
    jpg_1: { data: rows.map((i) => read(IMAGES[i % 5][1])), type: 'BYTE_ARRAY' },
    label_0: { data: rows.map((i) => LABELS[i % 5][0]), type: 'DOUBLE' },
    label_1: { data: rows.map((i) => LABELS[i % 5][1]), type: 'DOUBLE' },
    model_0: { data: rows.map(() => 'stabilityai/stable-diffusion-xl-beta-v2-2-2'), type: 'STRING' },
    model_1: { data: rows.map(() => 'CompVis/stable-diffusion-v1-4'), type: 'STRING' },
    ranking_id: { data: rows.map((i) => BigInt(100000 + i)), type: 'INT64' },
    user_id: { data: rows.map((i) => BigInt(7 + i)), type: 'INT64' },
    num_example_per_prompt: { data: rows.map(() => 1n), type: 'INT64' },
    ...override,
  }
  return Object.entries(columns).filter(([, c]) => c).map(([name, c]) => ({ name, ...c }))
}

/** Writes a snappy-compressed shard, rowGroupSize rows a row group. */
export function writeShard(filename, columnData, rowGroupSize = 2) {
  parquetWriteFile({ filename, columnData, codec: 'SNAPPY', rowGroupSize })
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? path.join(data, 'pickapic', 'tiny.parquet')
  writeShard(out, pickapicColumns(5))
  console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`)
}
