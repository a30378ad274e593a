#!/usr/bin/python3
"""Renders a cairn HTML report in headless Chromium and checks what a person would see.

usage: render.py REPORT.html [--expect ID,ID,...] [--min-charts N]

Checks, each failure printed as "FAIL: ..." (exit 1 when any):
  - static: the page parses with html.parser; it has no <script>, <link>, <iframe>,
    <object>, <embed> or <img>, no src= attribute, no href other than "#anchor", and
    no url(...) or @import in CSS: nothing can be fetched, so it opens offline;
  - each <svg> is well-formed XML;
  - every figure.chart named by --expect is present (and at least --min-charts);
  - the whole page loads in Chromium (--headless --no-sandbox --disable-gpu) with no
    console message at all (Chromium logs them as "INFO:CONSOLE" with
    --enable-logging=stderr; a page without scripts has none unless something failed);
  - each chart, rendered alone in a page with the report's own <style>, is not blank in
    its screenshot: enough coloured pixels (the marks: lines, bars, cells; axes and
    text are grey) and more than two colours.
Exit 77 (skip) when Chromium or Python's PIL is not installed.
"""
import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                 if os.path.exists(p)), None) or shutil.which("chromium")
MIN_COLOURED = 150    # pixels with a saturated colour for a chart to count as drawn

fails = []


def fail(msg):
    fails.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


class Page(html.parser.HTMLParser):
    """Collects the style, the figure.chart elements (with their source span) and
    anything that could fetch."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.style = ""
        self.in_style = False
        self.figures = []          # (id, start offset)
        self.bad = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "link", "iframe", "object", "embed", "img", "base", "frame"):
            self.bad.append("<%s>" % tag)
        for k, v in attrs:
            if k in ("src", "srcset", "xlink:href", "action", "poster", "data"):
                self.bad.append("%s=%r on <%s>" % (k, v, tag))
            if k == "href" and not (v or "").startswith("#"):
                self.bad.append("href=%r" % v)
            if k == "style" and v and ("url(" in v or "@import" in v):
                self.bad.append("url() in a style attribute")
        if tag == "style":
            self.in_style = True
        if tag == "figure" and "chart" in (a.get("class") or "").split():
            self.figures.append(a.get("id"))

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.style += data


def chromium(args, tmp, timeout=120):
    ud = tempfile.mkdtemp(dir=tmp, prefix="ud-")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + ud,
           "--no-first-run", "--disable-extensions", "--disable-background-networking",
           "--hide-scrollbars"] + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    shutil.rmtree(ud, ignore_errors=True)
    return p


def coloured_pixels(png):
    from PIL import Image
    im = Image.open(png).convert("RGB")
    n = 0
    colours = set()
    for r, g, b in im.getdata():
        if max(r, g, b) - min(r, g, b) > 60:
            n += 1
        colours.add((r >> 4, g >> 4, b >> 4))
    return n, len(colours)


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    path = os.path.abspath(args[0])
    expect, min_charts = [], 1
    i = 1
    while i < len(args):
        if args[i] == "--expect":
            expect = [x for x in args[i + 1].split(",") if x]
            i += 2
        elif args[i] == "--min-charts":
            min_charts = int(args[i + 1])
            i += 2
        else:
            print("unknown argument " + args[i], file=sys.stderr)
            return 2
    if not CHROMIUM:
        print("SKIP: chromium is not installed (scripts/deps.sh installs it)")
        return 77
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("SKIP: python3-pil is not installed (scripts/deps.sh installs it)")
        return 77

    text = open(path, encoding="utf-8").read()
    page = Page()
    page.feed(text)
    page.close()
    for b in page.bad:
        fail("can fetch: " + b)
    if "url(" in page.style or "@import" in page.style:
        fail("the CSS can fetch (url() or @import)")
    if re.search(r"https?://", text):
        fail("an http(s) address in the page")
    svgs = re.findall(r"<svg.*?</svg>", text, re.S)
    for k, s in enumerate(svgs):
        try:
            ET.fromstring(s)
        except ET.ParseError as e:
            fail("svg %d is not well-formed XML: %s" % (k, e))
    ids = [f for f in page.figures if f]
    for want in expect:
        if want not in ids:
            fail("chart %s is missing (charts: %s)" % (want, ", ".join(ids)))
    if len(ids) < min_charts:
        fail("%d charts, wanted at least %d" % (len(ids), min_charts))
    if len(set(ids)) != len(ids):
        fail("duplicate chart ids")

    tmp = tempfile.mkdtemp(prefix="render-")
    try:
        # The whole page: loads, no console messages, something drawn.
        full = os.path.join(tmp, "full.png")
        p = chromium(["--enable-logging=stderr", "--v=0", "--screenshot=" + full,
                      "--window-size=1200,3000", "file://" + path], tmp)
        log = p.stderr.decode("utf-8", "replace")
        for line in log.splitlines():
            if "CONSOLE" in line:
                fail("console message: " + line.strip())
        if p.returncode != 0 or not os.path.exists(full):
            fail("chromium could not render the page (exit %d): %s" % (p.returncode, log[-500:]))
        else:
            n, _ = coloured_pixels(full)
            if n < MIN_COLOURED:
                fail("the page screenshot is blank")

        # Each chart alone, with the report's CSS.
        figures = re.findall(r'<figure class="chart" id="([^"]*)">(.*?)</figure>', text, re.S)

        def one(item):
            k, (fid, body) = item
            m = re.search(r'<svg width="(\d+)" height="(\d+)"', body)
            w, h = (int(m.group(1)), int(m.group(2))) if m else (800, 600)
            doc = os.path.join(tmp, "chart%d.html" % k)
            with open(doc, "w", encoding="utf-8") as f:
                f.write('<!DOCTYPE html><html><head><meta charset="utf-8"><style>%s</style>'
                        '</head><body><main><figure class="chart" id="%s">%s</figure></main>'
                        '</body></html>' % (page.style, fid, body))
            png = os.path.join(tmp, "chart%d.png" % k)
            r = chromium(["--screenshot=" + png, "--window-size=%d,%d" % (w + 80, h + 140),
                          "file://" + doc], tmp)
            if r.returncode != 0 or not os.path.exists(png):
                return "chart %s: chromium failed (exit %d)" % (fid, r.returncode)
            n, colours = coloured_pixels(png)
            if n < MIN_COLOURED or colours <= 2:
                return "chart %s is blank in its screenshot (%d coloured pixels, %d colours)" % (
                    fid, n, colours)
            return None

        with ThreadPoolExecutor(max_workers=3) as ex:
            for err in ex.map(one, enumerate(figures)):
                if err:
                    fail(err)
        if len(figures) != len(ids):
            fail("%d figure.chart elements but %d matched for screenshots" % (len(ids), len(figures)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %d charts, %d svgs, %d bytes, %s" % (
        os.path.basename(path), len(ids), len(svgs), len(text.encode("utf-8")),
        "ok" if not fails else "%d failures" % len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
