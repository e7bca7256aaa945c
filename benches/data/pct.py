import sys
rows=[l.split() for l in sys.stdin]
codes=",".join(sorted({r[0] for r in rows})); t=sorted(float(r[1])*1000 for r in rows)
p=lambda q: t[min(len(t)-1, int(q*len(t)))]
print("%-78s http %s  p50 %7.1f ms  p99 %7.1f ms  (n=%d)" % (sys.argv[1], codes, p(0.5), p(0.99), len(t)))
