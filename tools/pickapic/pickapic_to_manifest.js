#!/usr/bin/env node
// pickapic_to_manifest.js: Pick-a-Pic v2 parquet shards -> vkpref's JSON Lines
// manifest (docs/DATA.md) and the image files it names.
//
//   node tools/pickapic/pickapic_to_manifest.js SHARD.parquet [...] --out DIR
//        [--limit N] [--skip-bad-rows] [--overwrite]
//
// Writes DIR/img/<shard name>/<row>_0.<jpg|png>, ..._1.<jpg|png> (the bytes as
// stored) and DIR/pairs.jsonl with one row a decided pair:
//   {"caption", "jpg_0", "jpg_1", "label_0", "label_1", + the optional columns}
// Ties (label_0 == label_1: Pick-a-Pic's 0.5/0.5 "no decision") and rows whose
// has_label is false are skipped and counted, as the official Diffusion-DPO code
// drops them. A bad row (a missing or mistyped value, image bytes that are not
// JPEG or PNG) stops the conversion naming the shard and the row, unless
// --skip-bad-rows. Every file is written under a temporary name and renamed
// into place, the manifest last: an interrupted run leaves no half manifest.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

export const REQUIRED = ['caption', 'jpg_0', 'jpg_1', 'label_0', 'label_1']
// Copied into the manifest when present (vkpref reads caption_mismatch; the rest is kept for the record).
export const OPTIONAL = ['are_different', 'has_label', 'best_image_uid', 'image_0_uid', 'image_1_uid', 'model_0',
  'model_1', 'user_id', 'ranking_id', 'created_at', 'caption_mismatch']

const USAGE = 'usage: pickapic_to_manifest.js SHARD.parquet [...] --out DIR [--limit N] [--skip-bad-rows] [--overwrite]'

/** A bad input: the message names the file (and row); exit status 1. */
export class InputError extends Error {}

/** @returns {{shards: string[], out: string, limit: number, skipBad: boolean, overwrite: boolean}} */
export function parseArgs(argv) {
  const o = { shards: [], out: '', limit: 0, skipBad: false, overwrite: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--out') o.out = argv[++i] ?? ''
    else if (a === '--limit') {
      const v = argv[++i]
      if (!/^[0-9]+$/.test(v ?? '') || Number(v) < 1) throw new InputError(`--limit ${v ?? ''}: give a number of rows >= 1`)
      o.limit = Number(v)
    } else if (a === '--skip-bad-rows') o.skipBad = true
    else if (a === '--overwrite') o.overwrite = true
    else if (a === '-h' || a === '--help') throw new InputError(USAGE)
    else if (a.startsWith('--')) throw new InputError(`unknown option ${a}\n${USAGE}`)
    else o.shards.push(a)
  }
  if (!o.shards.length || !o.out) throw new InputError(USAGE)
  return o
}

/** The kind of image the bytes hold, by their signature; null when neither. */
export function imageKind(bytes) {
  if (bytes.length >= 3 && bytes[0] === 0xFF && bytes[1] === 0xD8 && bytes[2] === 0xFF) return 'jpg'
  const png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'png'
  return null
}

/** Writes data to file through a temporary name in the same folder. */
function writeAtomic(file, data) {
  const tmp = `${file}.tmp-${process.pid}`
  try {
    fs.writeFileSync(tmp, data)
    fs.renameSync(tmp, file)
  } catch (e) {
    fs.rmSync(tmp, { force: true })
    throw e
  }
}

// Image bytes: Pick-a-Pic stores plain binary; datasets' Image feature stores {bytes, path}.
function imageBytes(v) {
  if (v instanceof Uint8Array) return v
  if (v && typeof v === 'object' && v.bytes instanceof Uint8Array) return v.bytes
  return null
}

// A JSON-safe copy of an optional value (int64 columns arrive as BigInt).
function jsonValue(v) {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (v instanceof Uint8Array) return new TextDecoder().decode(v)
  if (v instanceof Date) return v.toISOString()
  return v
}

function label(row, key) {
  const v = typeof row[key] === 'bigint' ? Number(row[key]) : row[key]
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`${key} is ${JSON.stringify(jsonValue(v)) ?? v}, not a number`)
  return v
}

/**
 * One parquet row -> a manifest row (images written under img/<shard>/), or a
 * reason to skip it ('tie', 'unlabelled'). Throws InputError on bad values.
 */
function convertRow(row, index, shardName, out) {
  const l0 = label(row, 'label_0'), l1 = label(row, 'label_1')
  if (row.has_label === false) return 'unlabelled'
  if (l0 === l1) return 'tie'
  let caption = row.caption
  if (caption instanceof Uint8Array) caption = new TextDecoder('utf-8', { fatal: true }).decode(caption)
  if (typeof caption !== 'string') throw new InputError(`caption is ${caption === null ? 'null' : typeof caption}, not text`)
  const entry = { caption }
  const stem = String(index).padStart(7, '0')
  for (const k of [0, 1]) {
    const bytes = imageBytes(row[`jpg_${k}`])
    if (!bytes) throw new InputError(`jpg_${k} holds no image bytes`)
    const kind = imageKind(bytes)
    if (!kind) throw new InputError(`jpg_${k} is not a JPEG or PNG image (${bytes.length} bytes)`)
    const rel = `img/${shardName}/${stem}_${k}.${kind}`
    writeAtomic(path.join(out, rel), bytes)
    entry[`jpg_${k}`] = rel
  }
  entry.label_0 = l0
  entry.label_1 = l1
  for (const c of OPTIONAL) if (row[c] !== undefined && row[c] !== null) entry[c] = jsonValue(row[c])
  return entry
}

// Appends the manifest rows of every shard to fd, counting into counts.
async function writeRows(fd, counts, { shards, out, limit, skipBad, log }) {
  for (const shard of shards) {
    let file, metadata
    try {
      file = await asyncBufferFromFile(shard)
      metadata = await parquetMetadataAsync(file)
    } catch (e) {
      throw new InputError(`${shard}: cannot read as parquet: ${e.message}`)
    }
    const names = parquetSchema(metadata).children.map((c) => c.element.name)
    const missing = REQUIRED.filter((c) => !names.includes(c))
    if (missing.length)
      throw new InputError(`${shard}: missing column(s) ${missing.join(', ')} (Pick-a-Pic v2 has ${REQUIRED.join(', ')})`)
    const columns = names.filter((c) => REQUIRED.includes(c) || OPTIONAL.includes(c))
    const shardName = path.basename(shard).replace(/\.parquet$/, '')
    fs.mkdirSync(path.join(out, 'img', shardName), { recursive: true })
    // One row group at a time: a shard's images need not fit in memory at once.
    let rowStart = 0
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows)
      let rows
      try {
        rows = await parquetReadObjects({ file, metadata, columns, rowStart, rowEnd, compressors, utf8: false })
      } catch (e) {
        throw new InputError(`${shard}: rows ${rowStart}..${rowEnd - 1}: cannot decode: ${e.message}`)
      }
      for (let i = 0; i < rows.length; i++) {
        if (limit && counts.pairs >= limit) return
        const index = rowStart + i
        counts.rows++
        let r
        try {
          r = convertRow(rows[i], index, shardName, out)
        } catch (e) {
          if (!(e instanceof InputError)) throw e
          if (!skipBad) throw new InputError(`${shard}: row ${index}: ${e.message}`)
          counts.bad++
          log(`${shard}: row ${index}: ${e.message} (skipped)`)
          continue
        }
        if (r === 'tie') counts.ties++
        else if (r === 'unlabelled') counts.unlabelled++
        else {
          fs.writeSync(fd, JSON.stringify(r) + '\n')
          counts.pairs++
        }
      }
      rowStart = rowEnd
    }
  }
}

/**
 * Converts the shards into out/pairs.jsonl; returns the counts. Throws
 * InputError naming the shard and row on bad input; the manifest then stays as
 * it was (absent, or the earlier one).
 */
export async function convert({ shards, out, limit = 0, skipBad = false, overwrite = false, log = () => {} }) {
  const manifest = path.join(out, 'pairs.jsonl')
  if (fs.existsSync(manifest) && !overwrite)
    throw new InputError(`${manifest} exists: give --overwrite to replace it, or another --out`)
  fs.mkdirSync(out, { recursive: true })
  const tmp = `${manifest}.tmp-${process.pid}`
  const fd = fs.openSync(tmp, 'w')
  const counts = { pairs: 0, ties: 0, unlabelled: 0, bad: 0, rows: 0 }
  try {
    await writeRows(fd, counts, { shards, out, limit, skipBad, log })
    if (counts.pairs === 0)
      throw new InputError(`${shards.join(', ')}: no decided pairs (${counts.rows} rows: ${counts.ties} ties, ` +
        `${counts.unlabelled} unlabelled, ${counts.bad} bad rows skipped); no manifest written`)
    fs.fsyncSync(fd)
  } catch (e) {
    fs.closeSync(fd)
    fs.rmSync(tmp, { force: true })
    throw e
  }
  fs.closeSync(fd)
  fs.renameSync(tmp, manifest)
  return counts
}

async function main() {
  try {
    const o = parseArgs(process.argv.slice(2))
    const c = await convert({ ...o, log: (m) => console.error(`pickapic: ${m}`) })
    console.log(`pickapic: wrote ${path.join(o.out, 'pairs.jsonl')}: ${c.pairs} pairs from ${c.rows} rows ` +
      `(${c.ties} ties and ${c.unlabelled} unlabelled rows skipped, ${c.bad} bad rows skipped)`)
  } catch (e) {
    console.error(e instanceof InputError ? `pickapic: ${e.message}` : e)
    process.exitCode = 1
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
