/*
 * render.c — the docsearch test data: every line of a corpus drawn to a PNG with FreeType and a
 * DejaVu font (Debian's fonts-dejavu-core), in four variants, plus a ready request.
 *
 *   docsearch-render LINES QUERIES FONT_DIR OUT
 *
 * LINES: one text line a line, documents ("pages") separated by an empty line. QUERIES: TSV,
 * "query<TAB>line it paraphrases", '#' comments. Writes:
 *
 *   OUT/{clean,noise,blur,skew}/NNNN.png   line NNNN (from 0, empty lines not counted) as grey
 *                                          8-bit PNG, dark text on light paper
 *   OUT/manifest.tsv                       variant, line, page, file (relative to OUT), text
 *   OUT/request.json                       {"query": the first query, "images": [base64 PNG of
 *                                          each clean line of that query's page]}
 *
 * Each line gets one of four faces (Sans, Serif, Sans Mono, Sans Bold) and a size of 22-34 px by
 * its number, margins of 4-10 px left and right and 1-3 px above and below (as a text detector
 * crops a line). Variants: clean; noise (grey paper 228-250, Gaussian noise of sigma 9, a few dark
 * specks); blur (Gaussian, sigma 1.1); skew (rotated 0.5-2 degrees either way, bilinear, white
 * corners). Everything random comes from a splitmix64 generator seeded by the line and the
 * variant: the same input gives the same files, byte for byte.
 */
#include <ft2build.h>
#include FT_FREETYPE_H
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#define MAX_LINES      100000
#define MAX_LINE_BYTES 1024

static const char *const faces[] = {"DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
                                    "DejaVuSans-Bold.ttf"};
#define NFACES 4
static const char *const variants[] = {"clean", "noise", "blur", "skew"};
#define NVARIANTS 4

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "docsearch-render: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/* ---- randomness: splitmix64 ----------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }
static double rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v);
}

/* ---- a grey picture -------------------------------------------------------------------------- */

typedef struct pic {
    int w, h;
    uint8_t *px;
} pic_t;

static pic_t pic_new(int w, int h, uint8_t fill)
{
    pic_t p = {w, h, malloc((size_t)w * h)};
    if (!p.px)
        die("out of memory%s", "");
    memset(p.px, fill, (size_t)w * h);
    return p;
}

static uint8_t clamp8(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v)); }

/* Draws `text` in `face` at `size` px: black on white, with margins (a line as a text detector
 * would crop it: little room above and below). */
static pic_t draw(FT_Face face, int size, const char *text, int margin, int margin_y)
{
    if (FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size))
        die("cannot set size for %s", text);
    int32_t cps[MAX_LINE_BYTES];
    int n = 0;
    for (size_t i = 0, len = strlen(text); i < len && n < MAX_LINE_BYTES;) {
        utf8proc_ssize_t step =
            utf8proc_iterate((const uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cps[n]);
        if (step < 0)
            die("line is not UTF-8: %s", text);
        i += (size_t)step, n++;
    }
    /* Pass 1: the width (26.6 fixed point), with kerning. */
    long pen = 0;
    FT_UInt prev = 0;
    for (int i = 0; i < n; i++) {
        FT_UInt g = FT_Get_Char_Index(face, (FT_ULong)cps[i]);
        if (prev && g && FT_HAS_KERNING(face)) {
            FT_Vector k;
            FT_Get_Kerning(face, prev, g, FT_KERNING_DEFAULT, &k);
            pen += k.x;
        }
        if (FT_Load_Glyph(face, g, FT_LOAD_DEFAULT))
            die("cannot load a glyph of %s", text);
        pen += face->glyph->advance.x;
        prev = g;
    }
    int ascent = (int)(face->size->metrics.ascender >> 6);
    int descent = (int)(-face->size->metrics.descender >> 6);
    pic_t p = pic_new((int)(pen >> 6) + 2 * margin + 2, ascent + descent + 2 * margin_y, 255);
    /* Pass 2: draw the anti-aliased bitmaps. */
    pen = (long)margin << 6;
    prev = 0;
    for (int i = 0; i < n; i++) {
        FT_UInt g = FT_Get_Char_Index(face, (FT_ULong)cps[i]);
        if (prev && g && FT_HAS_KERNING(face)) {
            FT_Vector k;
            FT_Get_Kerning(face, prev, g, FT_KERNING_DEFAULT, &k);
            pen += k.x;
        }
        if (FT_Load_Glyph(face, g, FT_LOAD_RENDER))
            die("cannot render a glyph of %s", text);
        FT_GlyphSlot s = face->glyph;
        int x0 = (int)(pen >> 6) + s->bitmap_left, y0 = margin_y + ascent - s->bitmap_top;
        for (unsigned y = 0; y < s->bitmap.rows; y++)
            for (unsigned x = 0; x < s->bitmap.width; x++) {
                int px = x0 + (int)x, py = y0 + (int)y;
                if (px < 0 || py < 0 || px >= p.w || py >= p.h)
                    continue;
                int cov = s->bitmap.buffer[y * s->bitmap.pitch + (int)x];
                uint8_t *d = &p.px[py * p.w + px];
                int v = 255 - cov;
                if (v < *d)
                    *d = (uint8_t)v;
            }
        pen += s->advance.x;
        prev = g;
    }
    return p;
}

static void noise(pic_t *p)
{
    double paper = 228 + 22 * rng_uniform();
    for (int i = 0; i < p->w * p->h; i++) {
        double v = p->px[i] * paper / 255 + 9 * rng_gauss();
        if (rng_uniform() < 0.002)
            v = 40 + 60 * rng_uniform();
        p->px[i] = clamp8(v);
    }
}

static void blur(pic_t *p)
{
    const double sigma = 1.1;
    double k[7], sum = 0;
    for (int i = -3; i <= 3; i++)
        sum += k[i + 3] = exp(-(i * i) / (2 * sigma * sigma));
    double *tmp = malloc(sizeof(double) * (size_t)p->w * p->h);
    if (!tmp)
        die("out of memory%s", "");
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            double a = 0;
            for (int i = -3; i <= 3; i++) {
                int xx = x + i < 0 ? 0 : x + i >= p->w ? p->w - 1 : x + i;
                a += k[i + 3] * p->px[y * p->w + xx];
            }
            tmp[y * p->w + x] = a / sum;
        }
    for (int y = 0; y < p->h; y++)
        for (int x = 0; x < p->w; x++) {
            double a = 0;
            for (int i = -3; i <= 3; i++) {
                int yy = y + i < 0 ? 0 : y + i >= p->h ? p->h - 1 : y + i;
                a += k[i + 3] * tmp[yy * p->w + x];
            }
            p->px[y * p->w + x] = clamp8(a / sum);
        }
    free(tmp);
}

static pic_t skew(const pic_t *p)
{
    double deg = (0.5 + 1.5 * rng_uniform()) * (rng_uniform() < 0.5 ? -1 : 1);
    double a = deg * M_PI / 180, c = cos(a), s = sin(a);
    int w = (int)ceil(p->w * fabs(c) + p->h * fabs(s)),
        h = (int)ceil(p->w * fabs(s) + p->h * fabs(c));
    pic_t q = pic_new(w, h, 255);
    double cx = p->w / 2.0, cy = p->h / 2.0, qx = w / 2.0, qy = h / 2.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x + 0.5 - qx, dy = y + 0.5 - qy; /* rotate back into the source */
            double sx = c * dx + s * dy + cx - 0.5, sy = -s * dx + c * dy + cy - 0.5;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0, v = 0;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) {
                    int xx = x0 + i, yy = y0 + j;
                    double pv =
                        xx < 0 || yy < 0 || xx >= p->w || yy >= p->h ? 255 : p->px[yy * p->w + xx];
                    v += pv * (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
                }
            q.px[y * w + x] = clamp8(v);
        }
    return q;
}

/* ---- output ---------------------------------------------------------------------------------- */

static void write_png(const pic_t *p, const char *path)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)p->w;
    png.height = (png_uint_32)p->h;
    png.format = PNG_FORMAT_GRAY;
    if (!png_image_write_to_file(&png, path, 0, p->px, 0, NULL))
        die("cannot write %s", path);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("cannot read %s", path);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void put_base64(FILE *out, const unsigned char *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v =
            (unsigned)d[i] << 16 | (i + 1 < n ? d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        fputc(t[v >> 18 & 63], out);
        fputc(t[v >> 12 & 63], out);
        fputc(i + 1 < n ? t[v >> 6 & 63] : '=', out);
        fputc(i + 2 < n ? t[v & 63] : '=', out);
    }
}

static void put_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", *s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void mkdir_p(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die("cannot make the folder %s", path);
}

int main(int argc, char **argv)
{
    if (argc != 5)
        die("usage: docsearch-render LINES QUERIES FONT_DIR OUT%s", "");
    const char *outdir = argv[4];
    size_t len;
    char *text = read_file(argv[1], &len);
    static char *lines[MAX_LINES];
    static int pages[MAX_LINES];
    int n = 0, page = 0;
    for (char *p = text, *nl; *p && n < MAX_LINES; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p);
        int last = *nl == 0;
        *nl = 0;
        if (*p) {
            if (strlen(p) >= MAX_LINE_BYTES)
                die("line too long: %s", p);
            pages[n] = page, lines[n++] = p;
        } else {
            page++;
        }
        if (last)
            break;
    }
    FT_Library ft;
    FT_Face face[NFACES];
    if (FT_Init_FreeType(&ft))
        die("cannot start FreeType%s", "");
    for (int i = 0; i < NFACES; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[3], faces[i]);
        if (FT_New_Face(ft, path, 0, &face[i]))
            die("cannot load the font %s (fonts-dejavu-core)", path);
    }
    mkdir_p(outdir);
    char path[4096];
    for (int v = 0; v < NVARIANTS; v++) {
        snprintf(path, sizeof path, "%s/%s", outdir, variants[v]);
        mkdir_p(path);
    }
    snprintf(path, sizeof path, "%s/manifest.tsv", outdir);
    FILE *manifest = fopen(path, "w");
    if (!manifest)
        die("cannot write %s", path);
    fprintf(manifest, "variant\tline\tpage\tfile\ttext\n");
    for (int i = 0; i < n; i++) {
        int size = 22 + (i * 7) % 13, margin = 4 + (i * 5) % 7, margin_y = 1 + i % 3;
        pic_t clean = draw(face[i % NFACES], size, lines[i], margin, margin_y);
        for (int v = 0; v < NVARIANTS; v++) {
            rng_state = 0x5eed0000ull + (uint64_t)i * 16 + (uint64_t)v;
            pic_t p = clean;
            if (v != 0) {
                p = pic_new(clean.w, clean.h, 0);
                memcpy(p.px, clean.px, (size_t)clean.w * clean.h);
            }
            if (v == 1)
                noise(&p);
            if (v == 2)
                blur(&p);
            if (v == 3) {
                pic_t q = skew(&p);
                free(p.px);
                p = q;
            }
            snprintf(path, sizeof path, "%s/%s/%04d.png", outdir, variants[v], i);
            write_png(&p, path);
            fprintf(manifest, "%s\t%d\t%d\t%s/%04d.png\t%s\n", variants[v], i, pages[i],
                    variants[v], i, lines[i]);
            if (v != 0)
                free(p.px);
        }
        free(clean.px);
    }
    fclose(manifest);

    /* request.json: the first query and the clean lines of its page. */
    char *queries = read_file(argv[2], &len);
    char *query = NULL, *target = NULL;
    for (char *p = queries, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        char *tab = strchr(p, '\t');
        if (*p != '#' && tab) {
            *tab = 0;
            query = p, target = tab + 1;
            break;
        }
        if (!nl)
            break;
    }
    int tpage = -1;
    for (int i = 0; i < n && target; i++)
        if (strcmp(lines[i], target) == 0)
            tpage = pages[i];
    if (tpage < 0)
        die("the first query's line is not in the corpus: %s", target ? target : "(no query)");
    snprintf(path, sizeof path, "%s/request.json", outdir);
    FILE *req = fopen(path, "w");
    if (!req)
        die("cannot write %s", path);
    fprintf(req, "{\"query\": ");
    put_json_string(req, query);
    fprintf(req, ",\n \"images\": [");
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (pages[i] != tpage)
            continue;
        snprintf(path, sizeof path, "%s/clean/%04d.png", outdir, i);
        size_t plen;
        char *png = read_file(path, &plen);
        fprintf(req, "%s\n  \"", first ? "" : ",");
        put_base64(req, (const unsigned char *)png, plen);
        fputc('"', req);
        free(png);
        first = 0;
    }
    fprintf(req, "]}\n");
    fclose(req);
    for (int i = 0; i < NFACES; i++)
        FT_Done_Face(face[i]);
    FT_Done_FreeType(ft);
    free(text);
    free(queries);
    printf("docsearch-render: %d lines x %d variants, %d pages, in %s\n", n, NVARIANTS, page + 1,
           outdir);
    return 0;
}
