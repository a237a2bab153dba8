// caption_perturb.h: mismatched captions for caption-pair objectives (TPO),
// when a manifest row has no "caption_mismatch": seeded rule-based edits in
// the spirit of TPO's edit principles (docs/DATA.md):
//   - object swap: the garment word becomes another class ("a photo of a coat"
//     -> "a photo of a sandal"), attribute words kept;
//   - attribute swap: tone/size words changed (dark <-> bright, small <-> large,
//     or one added where none was);
//   - another sample's caption (the only rule for captions the tool cannot parse).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum PerturbKind { PERTURB_FROM_MANIFEST, PERTURB_OBJECT, PERTURB_ATTRIBUTE, PERTURB_OTHER_CAPTION, PERTURB_KINDS } PerturbKind;

const char* perturb_kind_name(PerturbKind k);  // "manifest", "object", "attribute", "other_caption"

// Writes a caption different from captions[i] into out; the choice is a pure
// function of (seed, i). Returns the rule used.
PerturbKind caption_perturb(const char* const* captions, int n, int i, uint64_t seed, char* out, size_t outlen);
