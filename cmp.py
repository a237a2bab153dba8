import json, struct, numpy as np, sys
def load(p):
    f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); d = f.read()
    return {k: np.frombuffer(d[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).reshape(v["shape"]) for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
for k in a:
    if k in b:
        e = np.abs(a[k] - b[k]).max() / np.abs(b[k]).max()
        print(k, a[k].shape, "max rel err %.2e" % e)
