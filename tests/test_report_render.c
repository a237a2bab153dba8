// test_report_render.c: the committed example report (docs/results/compare-fmnist.html)
// rendered by headless Chromium at 800 and 1280 px: no console message or
// script error, every image decoded, nothing wider than the window, no element
// whose content overflows its box, and every win-rate interval on one line.
//
// How: a copy of the report gets two small scripts (the report itself has none):
// one at the top of <head> that records errors and console.error calls, one that
// measures the layout on the load event and writes its findings into a
// <pre id="vkcheck"> element; --dump-dom prints the DOM after load, and the test
// reads the findings back. Chromium's own log (--enable-logging=stderr) is
// searched for console lines as well. A screenshot at each width is taken too
// (kept with VKPREF_KEEP_SCREENSHOTS=DIR). Skips only when no Chromium is installed.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "util/fsutil.h"

#define REPORT "docs/results/compare-fmnist.html"

static const char HEAD_SCRIPT[] =
    "<script>window.__vkerr=[];"
    "addEventListener('error',function(e){__vkerr.push('error: '+(e.message||('resource '+(e.target&&e.target.tagName))))},"
    "true);"
    "(function(){var ce=console.error,cw=console.warn;"
    "console.error=function(){__vkerr.push('console.error: '+Array.prototype.join.call(arguments,' '));"
    "ce.apply(console,arguments)};"
    "console.warn=function(){__vkerr.push('console.warn: '+Array.prototype.join.call(arguments,' '));"
    "cw.apply(console,arguments)}})();</script>";

// Runs on load: the findings, one a line, then "problems: N".
static const char CHECK_SCRIPT[] =
    "<script>addEventListener('load',function(){"
    "var vw=document.documentElement.clientWidth,bad=[],n=0;"
    "function d(el){var t=(el.textContent||'').replace(/\\s+/g,' ').trim().slice(0,50);"
    "return '<'+el.tagName.toLowerCase()+(el.id?' #'+el.id:'')+'> \"'+t+'\"'}"
    "if(document.documentElement.scrollWidth>vw)"
    "bad.push('the page scrolls sideways: scrollWidth '+document.documentElement.scrollWidth+' > '+vw);"
    "var all=document.body.getElementsByTagName('*');"
    "for(var i=0;i<all.length;i++){var el=all[i];n++;"
    "var r=el.getBoundingClientRect();"
    "if(r.width>0&&(r.right>vw+0.5||r.left<-0.5))bad.push(d(el)+' reaches '+r.left.toFixed(1)+'..'+r.right.toFixed(1)"
    "+' px of a '+vw+' px window');"
    "if(el instanceof HTMLElement&&el.clientWidth>0&&el.scrollWidth>el.clientWidth+1)"
    "bad.push(d(el)+' overflows its box: scrollWidth '+el.scrollWidth+' > clientWidth '+el.clientWidth)}"
    "for(var i=0;i<document.images.length;i++){var im=document.images[i];"
    "if(!im.complete||im.naturalWidth===0)bad.push('image '+i+' ('+im.alt+') did not decode')}"
    "var tds=document.getElementsByTagName('td');"
    "for(var i=0;i<tds.length;i++){if(!/\\[.*\\]/.test(tds[i].textContent))continue;"
    "var rg=document.createRange();rg.selectNodeContents(tds[i]);var rs=rg.getClientRects(),tops={},k=0;"
    "for(var j=0;j<rs.length;j++)if(rs[j].width>0&&!tops[Math.round(rs[j].top)]){tops[Math.round(rs[j].top)]=1;k++}"
    "if(k>1)bad.push(d(tds[i])+' wraps onto '+k+' lines')}"
    "for(var i=0;i<__vkerr.length;i++)bad.push(__vkerr[i]);"
    "var p=document.createElement('pre');p.id='vkcheck';"
    "p.textContent='elements: '+n+'\\n'+bad.join('\\n')+(bad.length?'\\n':'')+'problems: '+bad.length;"
    "document.body.appendChild(p)});</script>";

// The first Chromium on PATH, or NULL.
static const char* find_chromium(void) {
    static char path[512];
    static const char* const names[] = {"chromium", "chromium-browser", "google-chrome"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s 2>/dev/null", names[i]);
        FILE* p = popen(cmd, "r");
        if (!p) continue;
        bool found = fgets(path, sizeof path, p) != NULL;
        pclose(p);
        if (found) {
            path[strcspn(path, "\n")] = 0;
            if (*path) return path;
        }
    }
    return NULL;
}

static char* must_read(const char* path, size_t* n) {
    char err[512];
    char* t = read_file(path, n, err, sizeof err);
    cr_assert(t, "%s", err);
    return t;
}

// The report with the two scripts inserted, written to dir/report.html.
static void write_instrumented(const char* report, const char* dir, char* out_path, size_t len) {
    size_t n;
    char* html = must_read(report, &n);
    cr_assert(!strstr(html, "<script"), "%s: the report must work without scripts; it has one", report);
    char* head = strstr(html, "<head>");
    char* end = strstr(html, "</body>");
    cr_assert(head && end && head < end, "%s: no <head> or </body>", report);
    head += strlen("<head>");
    size_t cap = n + sizeof HEAD_SCRIPT + sizeof CHECK_SCRIPT + 1;
    char* doc = malloc(cap);
    cr_assert(doc);
    size_t a = (size_t)(head - html), b = (size_t)(end - head);
    snprintf(doc, cap, "%.*s%s%.*s%s%s", (int)a, html, HEAD_SCRIPT, (int)b, head, CHECK_SCRIPT, end);
    snprintf(out_path, len, "%s/report.html", dir);
    char err[512];
    cr_assert_eq(write_file_atomic(out_path, doc, strlen(doc), err, sizeof err), 0, "%s", err);
    free(doc), free(html);
}

// In place: the entities --dump-dom writes in text (&lt; &gt; &quot; &amp;) back to characters.
static void unescape(char* s) {
    static const char* const ent[][2] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}};
    char* w = s;
    for (const char* r = s; *r;) {
        size_t k = 0;
        while (k < sizeof ent / sizeof *ent && strncmp(r, ent[k][0], strlen(ent[k][0]))) k++;
        if (k < sizeof ent / sizeof *ent) *w++ = ent[k][1][0], r += strlen(ent[k][0]);
        else *w++ = *r++;
    }
    *w = 0;
}

static void render_and_check(const char* chromium, const char* page, const char* dir, int width) {
    char cmd[4096], dom[512], log[512], shot[512];
    snprintf(dom, sizeof dom, "%s/dom-%d.html", dir, width);
    snprintf(log, sizeof log, "%s/chromium-%d.log", dir, width);
    snprintf(shot, sizeof shot, "%s/report-%d.png", dir, width);
    // A profile folder of its own: no state shared with another Chromium, and no writes to $HOME.
    const char* common = "--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions "
                         "--enable-logging=stderr --v=0";
    snprintf(cmd, sizeof cmd,
             "timeout 120 '%s' %s --user-data-dir='%s/profile' --window-size=%d,1200 --virtual-time-budget=5000 "
             "--dump-dom 'file://%s' > '%s' 2> '%s'",
             chromium, common, dir, width, page, dom, log);
    cr_assert_eq(system(cmd), 0, "chromium --dump-dom failed at %d px; its log: %s", width, log);
    snprintf(cmd, sizeof cmd,
             "timeout 120 '%s' %s --user-data-dir='%s/profile' --window-size=%d,3000 --hide-scrollbars "
             "--screenshot='%s' 'file://%s' >> '%s' 2>&1",
             chromium, common, dir, width, shot, page, log);
    cr_assert_eq(system(cmd), 0, "chromium --screenshot failed at %d px; its log: %s", width, log);

    size_t n;
    char* png = must_read(shot, &n);
    cr_assert(n > 10000 && !memcmp(png, "\x89PNG", 4), "%s: not a rendered page (%zu bytes)", shot, n);
    free(png);

    char* text = must_read(dom, &n);
    char* at = strstr(text, "<pre id=\"vkcheck\">");
    cr_assert(at, "at %d px the layout check did not run (no #vkcheck in the DOM): %s", width, dom);
    at += strlen("<pre id=\"vkcheck\">");
    char* stop = strstr(at, "</pre>");
    cr_assert(stop);
    *stop = 0;
    unescape(at);
    cr_assert(strstr(at, "\nproblems: 0"), "at %d px:\n%s", width, at);
    free(text);

    // Chromium logs every console message of the page as "...:CONSOLE...".
    char* lines = must_read(log, &n);
    cr_assert(!strstr(lines, ":CONSOLE"), "at %d px the page wrote to the console; see %s:\n%s", width, log, lines);
    free(lines);
}

Test(report_render, example_report_at_800_and_1280_px, .timeout = 600) {
    const char* chromium = find_chromium();
    if (!chromium) cr_skip_test("no chromium on PATH (tools/setup.sh installs it)");
    const char* src = getenv("VKPREF_SOURCE_DIR");
    cr_assert(src, "VKPREF_SOURCE_DIR is not set (run through ctest)");
    char report[1024], dir[64], page[512];
    snprintf(report, sizeof report, "%s/%s", src, REPORT);
    temp_dir(dir, "render");
    write_instrumented(report, dir, page, sizeof page);
    render_and_check(chromium, page, dir, 800);
    render_and_check(chromium, page, dir, 1280);
    const char* keep = getenv("VKPREF_KEEP_SCREENSHOTS");
    if (keep && *keep) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/report-800.png '%s'/report-1280.png '%s'/", keep, dir, dir,
                 keep);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    remove_temp_dir(dir);
}
