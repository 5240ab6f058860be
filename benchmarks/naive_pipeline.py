"""The tutorial pipeline that most zhwiki word2vec write-ups use, as the baseline a user would
otherwise pick: gensim WikiCorpus -> OpenCC t2s line by line -> jieba serial -> gensim Word2Vec.
Usage: python naive_pipeline.py DUMP.xml.bz2 WORKDIR [sg] [epochs]
Prints stage timings as JSON on the last line.

zhvec's copy (benchmarks/naive_pipeline.py) of ../shared/bench/naive_pipeline.py. Its only change is
measurement: each stage also reports its CPU seconds (this process and its reaped children, e.g. WikiCorpus's
worker pool) and the peak RSS so far, from getrusage, in the same JSON line."""
import json, logging, os, resource, sys, time

import jieba
import opencc
from gensim.corpora import WikiCorpus
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence

dump, work = sys.argv[1], sys.argv[2]
sg = int(sys.argv[3]) if len(sys.argv) > 3 else 1
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
os.makedirs(work, exist_ok=True)
jieba.setLogLevel(logging.WARNING)
t = {}


def cpu_rss():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, max(own.ru_maxrss, kids.ru_maxrss) * 1024


def stage_done(name, cpu0):
    cpu, rss = cpu_rss()
    t[f"{name}_cpu_s"], t[f"{name}_peak_rss_bytes"] = cpu - cpu0, rss
    return cpu

cpu0, _ = cpu_rss()
t0 = time.perf_counter()
wiki = WikiCorpus(dump, dictionary={}, processes=2, token_min_len=1, token_max_len=10**6)
n_articles = 0
with open(f"{work}/wiki.txt", "w", encoding="utf-8") as out:
    for tokens in wiki.get_texts():
        out.write(" ".join(tokens) + "\n")
        n_articles += 1
t["extract_s"] = time.perf_counter() - t0
cpu0 = stage_done("extract", cpu0)

t0 = time.perf_counter()
cc = opencc.OpenCC("t2s")
with open(f"{work}/wiki.txt", encoding="utf-8") as src, open(f"{work}/wiki.zhs.txt", "w", encoding="utf-8") as out:
    for line in src:
        out.write(cc.convert(line))
t["convert_s"] = time.perf_counter() - t0
cpu0 = stage_done("convert", cpu0)

t0 = time.perf_counter()
with open(f"{work}/wiki.zhs.txt", encoding="utf-8") as src, open(f"{work}/wiki.seg.txt", "w", encoding="utf-8") as out:
    for line in src:
        out.write(" ".join(w for w in jieba.cut(line.strip()) if w.strip()) + "\n")
t["segment_s"] = time.perf_counter() - t0
cpu0 = stage_done("segment", cpu0)

t0 = time.perf_counter()
model = Word2Vec(LineSentence(f"{work}/wiki.seg.txt"), sg=sg, vector_size=100, window=5, negative=5,
                 sample=1e-4, min_count=5, workers=2, epochs=epochs)
t["train_s"] = time.perf_counter() - t0
cpu0 = stage_done("train", cpu0)
model.wv.save_word2vec_format(f"{work}/vectors.txt")
t["articles"] = n_articles
t["vocab"] = len(model.wv)
t["corpus_words"] = model.corpus_total_words
print(json.dumps(t))
