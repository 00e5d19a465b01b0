/*
 * docs_page.c — the HTML docs page (GET / with Accept: text/html) and the graph it draws
 * (GET /graph.json).
 *
 * The page is one self-contained document served by the program (no CDN, no other asset): its
 * script reads GET /docs.json (the OpenAPI document) to list every API with its inputs and
 * output and a form to try it (a JSON editor prefilled with an example built from the schema; the
 * answer is shown under it), and polls GET /graph.json every 2 s to draw the service graph.
 *
 * /graph.json — the contract between this page and the worker (other tools may read it too):
 *   {"service": NAME, "generated_ms": N,
 *    "services": [{"name", "apis": [...], "workers": declared count, "entry": bool,
 *                  "health": {"status", "ready", "in_flight", "queued", "served", "uptime_ms",
 *                             "pid", "worker"}      (the entry: live, from this worker)
 *                          | {"ready", "why", "url"} (a dependency: as this worker last saw it)
 *                          | null                    (further down: unknown from here)}],
 *    "edges": [{"from", "to", "calls", "calls_per_s", "latency_ms"}]}
 * Services and edges come from the definitions (tfn_service_t.depends, recursively); health from
 * this worker and its dependency probes. Per edge, from the metrics region (lib/observe; under
 * `serve` it covers every worker of the graph): calls made so far, and since the previous poll
 * the rate and mean latency (null on the first poll, or when metrics are off: the page shows
 * "—"); latency_ms on a first poll is the mean since start.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "codec/codec_internal.h"
#include "codec/json_writer_internal.h"
#include "observe/metrics_internal.h"
#include "protocols/protocols_internal.h"

#define MAX_SERVICES 64

static const char page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>tiffin</title>\n<style>\n"
    "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\n"
    "header{background:#23395b;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}\n"
    "header p{margin:2px 0 0;opacity:.85}main{padding:10px 28px;max-width:1100px}\n"
    "section.api{background:#fff;border:1px solid #d9dde3;border-radius:8px;padding:12px 18px;"
    "margin:14px 0}\n"
    "h2{font-size:17px;margin:4px 0}code,pre,textarea{font:13px ui-monospace,monospace}\n"
    "table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid "
    "#eee;text-align:left;vertical-align:top}\n"
    "textarea{width:100%;box-sizing:border-box;min-height:70px}button{margin:6px 0;padding:5px "
    "16px;background:#23395b;color:#fff;border:0;border-radius:5px;cursor:pointer}\n"
    "pre.answer{background:#f0f2f5;padding:8px;white-space:pre-wrap;min-height:1em}\n"
    ".err{color:#a01818}.ok{color:#17622d}#graph{background:#fff;border:1px solid #d9dde3;"
    "border-radius:8px}\n"
    "</style></head><body>\n"
    "<header><h1 id=\"title\">tiffin</h1><p id=\"subtitle\"></p></header>\n<main>\n"
    "<h2>Service graph <small id=\"graph-time\"></small></h2>\n"
    "<svg id=\"graph\" width=\"100%\" height=\"220\"></svg>\n"
    "<div id=\"apis\"></div>\n</main>\n<script>\n"
    "'use strict';\n"
    "const $=(t,a={},...kids)=>{const e=document.createElement(t);for(const k in a)"
    "e.setAttribute(k,a[k]);for(const c of kids)e.append(c);return e;};\n"
    "function example(s){if(!s)return null;if(s.oneOf)return example(s.oneOf[0]);"
    "switch(s.type){case 'array':{const n=s.minItems||1;return Array.from({length:n},"
    "()=>example(s.items||{}));}\n"
    "case 'number':return 0.5;case 'integer':return s.minimum>0?s.minimum:1;"
    "case 'boolean':return true;case 'string':return s.format==='byte'?'':'text';"
    "case 'object':{const o={};for(const k of s.required||[])o[k]=example(s.properties[k]);"
    "return o;}default:return null;}}\n"
    "function typeText(s){if(!s)return 'any';if(s['x-tiffin-dtype'])return 'tensor('+"
    "s['x-tiffin-dtype']+(s['x-tiffin-shape']?', ['+s['x-tiffin-shape'].join(', ')+']':'')+')';"
    "if(s.oneOf)return 'tensor';return s.type||'any';}\n"
    "async function call(name){const out=document.getElementById('answer-'+name);"
    "out.className='answer';out.textContent='…';\n"
    "try{const r=await fetch('/'+name,{method:'POST',headers:{'Content-Type':"
    "'application/json'},body:document.getElementById('input-'+name).value});\n"
    "const text=await r.text();let shown=text;try{shown=JSON.stringify(JSON.parse(text),null,"
    "2);}catch(e){}\n"
    "out.className='answer '+(r.ok?'ok':'err');out.textContent=r.status+' '+r.statusText+'\\n'+"
    "shown;}catch(e){out.className='answer err';out.textContent=String(e);}}\n"
    "async function apis(){const doc=await(await fetch('/docs.json')).json();\n"
    "document.getElementById('title').textContent=doc.info.title+' '+doc.info.version;\n"
    "document.getElementById('subtitle').textContent=doc.info.description||'';\n"
    "const box=document.getElementById('apis');\n"
    "for(const[path,item]of Object.entries(doc.paths)){const op=item.post;"
    "if(!op||(op.tags||[]).includes('operations'))continue;const name=path.slice(1);\n"
    "const schema=op.requestBody.content['application/json'].schema;"
    "const props=schema.properties||{};const req=schema.required||[];\n"
    "const rows=Object.entries(props).map(([k,s])=>$('tr',{},$('td',{},$('code',{},k)),"
    "$('td',{},typeText(s)),$('td',{},req.includes(k)?'required':'optional'),"
    "$('td',{},s.description||'')));\n"
    "const okSchema=((op.responses['200']||{}).content||{})['application/json'];\n"
    "const ex={};for(const k of req)ex[k]=example(props[k]);\n"
    "box.append($('section',{class:'api',id:'api-'+name},$('h2',{},'POST '+path),"
    "$('p',{},op.summary||op.description||''),\n"
    "$('table',{},$('tr',{},$('th',{},'input'),$('th',{},'type'),$('th',{},''),"
    "$('th',{},'')),...rows),\n"
    "$('p',{},'output: ',$('code',{},typeText(okSchema&&okSchema.schema))),\n"
    "$('form',{id:'form-'+name},$('textarea',{id:'input-'+name},"
    "JSON.stringify(ex,null,1)),$('button',{id:'submit-'+name,type:'submit'},'Try it')),\n"
    "$('pre',{class:'answer',id:'answer-'+name})));\n"
    "document.getElementById('form-'+name).addEventListener('submit',e=>{e.preventDefault();"
    "call(name);});}}\n"
    "const NS='http://www.w3.org/2000/svg';\n"
    "function svg(t,a,text){const e=document.createElementNS(NS,t);for(const k in a)"
    "e.setAttribute(k,a[k]);if(text!==undefined)e.textContent=text;return e;}\n"
    "function fmt(v,unit){return v===null||v===undefined?'—':(+v).toFixed(1)+unit;}\n"
    "async function graph(){let g;try{g=await(await fetch('/graph.json')).json();}catch(e){"
    "document.getElementById('graph-time').textContent='(unreachable)';return;}\n"
    "const el=document.getElementById('graph');el.replaceChildren();const pos={};\n"
    "const depth={};depth[g.service]=0;for(let i=0;i<g.services.length;i++)for(const e of "
    "g.edges)if(depth[e.from]!==undefined&&depth[e.to]===undefined)depth[e.to]=depth[e.from]+1;"
    "\n"
    "const cols={};for(const s of g.services){const d=depth[s.name]||0;cols[d]=(cols[d]||0)+1;"
    "pos[s.name]={x:20+d*250,y:20+(cols[d]-1)*95};}\n"
    "const h=Math.max(...Object.values(pos).map(p=>p.y))+100;el.setAttribute('height',h);\n"
    "const defs=svg('defs',{}),mk=svg('marker',{id:'arrow',viewBox:'0 0 10 10',refX:10,"
    "refY:5,markerWidth:8,markerHeight:8,orient:'auto'});\n"
    "mk.append(svg('path',{d:'M0,0L10,5L0,10z',fill:'#5b6b86'}));defs.append(mk);"
    "el.append(defs);\n"
    "for(const e of g.edges){const a=pos[e.from],b=pos[e.to];if(!a||!b)continue;\n"
    "el.append(svg('line',{x1:a.x+190,y1:a.y+35,x2:b.x,y2:b.y+35,stroke:'#5b6b86',"
    "'stroke-width':1.5,'marker-end':'url(#arrow)'}));\n"
    "el.append(svg('text',{x:(a.x+190+b.x)/2-30,y:(a.y+b.y)/2+28,'font-size':11,fill:'#333',"
    "class:'edge-label'},fmt(e.calls_per_s,'/s')+' · '+fmt(e.latency_ms,' ms')));}\n"
    "for(const s of g.services){const p=pos[s.name],hl=s.health;\n"
    "const ok=hl===null?null:(hl.ready===true);const color=ok===null?'#9aa3b2':ok?'#2e8b57':"
    "'#c0392b';\n"
    "const gr=svg('g',{class:'service','data-name':s.name});\n"
    "gr.append(svg('rect',{x:p.x,y:p.y,width:190,height:70,rx:8,fill:'#fff',stroke:color,"
    "'stroke-width':2}));\n"
    "gr.append(svg('text',{x:p.x+10,y:p.y+20,'font-weight':'bold'},s.name+(s.entry?' "
    "(entry)':'')));\n"
    "gr.append(svg('text',{x:p.x+10,y:p.y+38,'font-size':12},s.workers+' worker'+(s.workers>1?"
    "'s':'')+' · '+(hl===null?'health unknown':hl.status||(hl.ready?'ready':'not ready'))));\n"
    "gr.append(svg('text',{x:p.x+10,y:p.y+55,'font-size':11,fill:'#555'},hl&&hl.served!==undefined"
    "?'served '+hl.served+', in flight '+hl.in_flight:(hl&&hl.why&&!hl.ready?hl.why.slice(0,30)"
    ":s.apis.join(', ').slice(0,30))));\n"
    "el.append(gr);}\n"
    "document.getElementById('graph-time').textContent='(updated '+new Date()"
    ".toLocaleTimeString()+')';}\n"
    "apis().catch(e=>{document.getElementById('apis').textContent='cannot read /docs.json: '+e;}"
    ");\n"
    "graph();setInterval(graph,2000);\n"
    "</script></body></html>\n";

/* Does the Accept header ask for HTML (a browser)? */
static bool wants_html(const char *accept) { return strcasestr(accept, "text/html") != NULL; }

bool tfn__serve_docs_page(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                          bool keep_alive)
{
    (void)path;
    (void)body;
    if ((method != HTTP_GET && method != HTTP_HEAD) || !wants_html(conn->accept))
        return false; /* the JSON index of dispatch, or its 405 */
    tfn__conn_respond(conn, 200, "text/html; charset=utf-8", page, sizeof page - 1, keep_alive,
                      NULL);
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * /graph.json
 * ------------------------------------------------------------------------------------------- */

/* The services of the graph from `entry` down, breadth first, each once. */
static size_t collect(const tfn_service_t *entry, const tfn_service_t **out)
{
    size_t n = 0;
    out[n++] = entry;
    for (size_t i = 0; i < n; i++)
        for (const tfn_dependency_t *d = out[i]->depends; d && (d->service || d->url); d++) {
            if (!d->service)
                continue;
            size_t j = 0;
            while (j < n && out[j] != d->service)
                j++;
            if (j == n && n < MAX_SERVICES)
                out[n++] = d->service;
        }
    return n;
}

static void entry_health(tfn__jw_t *w, const tfn__server_t *server)
{
    const char *status = server->draining || server->quiescing ? "draining"
                         : server->ready                       ? "ok"
                                                               : "starting";
    bool ready = server->ready && !server->draining && tfn__server_hooks_ready(server, NULL, 0);
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "status", status);
    tfn__jw_member_literal(w, "ready", ready ? "true" : "false");
    tfn__jw_member_int(w, "in_flight", server->in_flight);
    tfn__jw_member_int(w, "queued", server->queued);
    tfn__jw_member_int(w, "served", (long long)server->served);
    tfn__jw_member_int(w, "uptime_ms", (long long)(tfn__now_ms() - server->started_ms));
    tfn__jw_member_int(w, "pid", (long long)getpid());
    tfn__jw_member_int(w, "worker", server->worker.index);
    tfn__jw_end_object(w);
}

/* The health of service `name` as this worker knows it: a dependency it probes, or null. */
static void dependency_health(tfn__jw_t *w, const tfn__server_t *server, const char *name)
{
    const tfn__server_hooks_t *hooks = server->config.hooks;
    tfn__dep_view_t v;
    for (size_t i = 0; hooks && hooks->dependency && hooks->dependency(server, i, &v); i++) {
        if (strcmp(v.service ? v.service : v.name, name) != 0)
            continue;
        tfn__jw_begin_object(w);
        tfn__jw_member_literal(w, "ready", v.ready ? "true" : "false");
        if (!v.ready && v.why)
            tfn__jw_member_string(w, "why", v.why);
        if (v.url)
            tfn__jw_member_string(w, "url", v.url);
        tfn__jw_end_object(w);
        return;
    }
    tfn__jw_literal(w, "null");
}

/* Calls from `from` to `to` so far, over every worker of the metrics region this worker sees
 * (the whole graph under `serve`), and their summed latency in ns. */
static void edge_totals(const tfn__server_t *server, const char *from, const char *to,
                        uint64_t *calls, uint64_t *ns)
{
    *calls = *ns = 0;
    tfn__metrics_region_t *region = server->metrics;
    for (unsigned i = 0; region && i < tfn__metrics_nslots(region); i++) {
        tfn__metrics_slot_t *slot = tfn__metrics_slot(region, i);
        if (!atomic_load(&slot->used) || strcmp(slot->service, from) != 0)
            continue;
        uint32_t n = atomic_load(&slot->ncalls);
        for (uint32_t c = 0; c < n && c < TFN__METRICS_MAX_CALLS; c++) {
            tfn__metrics_call_t *call = &slot->calls[c];
            if (!atomic_load(&call->published) || strcmp(call->dependency, to) != 0)
                continue;
            for (size_t k = 0; k < TFN__METRICS_NCODES; k++)
                *calls += atomic_load_explicit(&call->codes[k], memory_order_relaxed);
            *ns += atomic_load_explicit(&call->latency.sum, memory_order_relaxed);
        }
    }
}

/* The previous reading of each edge, so that a poll reports the rate and mean latency since the
 * one before (the page polls every 2 s). On the loop thread only. */
static struct {
    char from[TFN__METRICS_NAME], to[TFN__METRICS_NAME];
    uint64_t at_ms, calls, ns;
} seen[MAX_SERVICES * 4];
static size_t nseen;

static void edge(tfn__jw_t *w, const tfn__server_t *server, const char *from, const char *to)
{
    tfn__jw_begin_object(w);
    tfn__jw_member_string(w, "from", from);
    tfn__jw_member_string(w, "to", to);
    uint64_t calls, ns, now = tfn__now_ms();
    edge_totals(server, from, to, &calls, &ns);
    size_t i = 0;
    while (i < nseen && (strcmp(seen[i].from, from) != 0 || strcmp(seen[i].to, to) != 0))
        i++;
    bool known = i < nseen && now > seen[i].at_ms && calls >= seen[i].calls;
    char text[64];
    tfn__jw_member_int(w, "calls", (long long)calls);
    if (known) {
        uint64_t dc = calls - seen[i].calls, dns = ns - seen[i].ns;
        snprintf(text, sizeof text, "%.2f", (double)dc * 1000.0 / (double)(now - seen[i].at_ms));
        tfn__jw_member_literal(w, "calls_per_s", text);
        snprintf(text, sizeof text, "%.3f", dc ? (double)dns / (double)dc / 1e6 : 0.0);
        tfn__jw_member_literal(w, "latency_ms", dc ? text : "null");
    } else {
        tfn__jw_member_literal(w, "calls_per_s", "null");
        snprintf(text, sizeof text, "%.3f", calls ? (double)ns / (double)calls / 1e6 : 0.0);
        tfn__jw_member_literal(w, "latency_ms", calls ? text : "null"); /* since start */
    }
    if (i == nseen && nseen < sizeof seen / sizeof seen[0]) {
        snprintf(seen[i].from, sizeof seen[i].from, "%s", from);
        snprintf(seen[i].to, sizeof seen[i].to, "%s", to);
        nseen++;
    }
    if (i < nseen) {
        seen[i].at_ms = now;
        seen[i].calls = calls;
        seen[i].ns = ns;
    }
    tfn__jw_end_object(w);
}

int tfn__graph_json(const tfn__server_t *server, tfn__buf_t *out)
{
    const tfn_service_t *services[MAX_SERVICES];
    size_t n = collect(server->service, services);
    tfn__jw_t w = {.out = out};
    tfn__jw_begin_object(&w);
    tfn__jw_member_string(&w, "service", server->service->name);
    tfn__jw_member_int(&w, "generated_ms", (long long)tfn__now_ms());
    tfn__jw_key(&w, "services");
    tfn__jw_begin_array(&w);
    for (size_t i = 0; i < n; i++) {
        const tfn_service_t *s = services[i];
        tfn__jw_begin_object(&w);
        tfn__jw_member_string(&w, "name", s->name);
        tfn__jw_key(&w, "apis");
        tfn__jw_begin_array(&w);
        for (const tfn_api_t *api = s->apis; api->name; api++)
            tfn__jw_string(&w, api->name);
        tfn__jw_end_array(&w);
        tfn__jw_member_int(&w, "workers", s->workers ? s->workers : 1);
        tfn__jw_member_literal(&w, "entry", i == 0 ? "true" : "false");
        tfn__jw_key(&w, "health");
        if (i == 0)
            entry_health(&w, server);
        else
            dependency_health(&w, server, s->name);
        tfn__jw_end_object(&w);
    }
    /* Dependencies reached by URL only: a node each, known from this worker's probes. */
    const tfn__server_hooks_t *hooks = server->config.hooks;
    tfn__dep_view_t v;
    for (size_t i = 0; hooks && hooks->dependency && hooks->dependency(server, i, &v); i++) {
        if (v.service)
            continue;
        tfn__jw_begin_object(&w);
        tfn__jw_member_string(&w, "name", v.name);
        tfn__jw_key(&w, "apis");
        tfn__jw_begin_array(&w);
        tfn__jw_end_array(&w);
        tfn__jw_member_int(&w, "workers", 1);
        tfn__jw_member_literal(&w, "entry", "false");
        tfn__jw_key(&w, "health");
        dependency_health(&w, server, v.name);
        tfn__jw_end_object(&w);
    }
    tfn__jw_end_array(&w);
    tfn__jw_key(&w, "edges");
    tfn__jw_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        for (const tfn_dependency_t *d = services[i]->depends; d && (d->service || d->url); d++)
            edge(&w, server, services[i]->name,
                 d->name      ? d->name
                 : d->service ? d->service->name
                              : d->url);
    tfn__jw_end_array(&w);
    tfn__jw_end_object(&w);
    return w.rc;
}

bool tfn__serve_graph(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                      bool keep_alive)
{
    (void)path;
    (void)body;
    tfn_error_t err;
    if (method != HTTP_GET && method != HTTP_HEAD) {
        tfn_error_set(&err, TFN_EMETHOD, "/graph.json accepts GET, not %s",
                      http_method_str(method));
        tfn__conn_respond_error(conn, &err, keep_alive, "Allow: GET, HEAD\r\n");
        return true;
    }
    tfn__buf_t doc;
    tfn__buf_init(&doc, 4 << 20);
    int rc = tfn__graph_json(conn->server, &doc);
    if (rc != 0) {
        tfn__buf_free(&doc);
        tfn_error_set(&err, rc, "cannot describe the graph");
        tfn__conn_respond_error(conn, &err, keep_alive, NULL);
        return true;
    }
    tfn__conn_respond_buf(conn, 200, TFN__MEDIA_JSON, &doc, keep_alive, NULL);
    return true;
}
