/*
 * The floor for any flow tracker: map a classic pcap file, walk its records, read the
 * Ethernet/IPv4/TCP headers of each packet and count it in an open-addressing hash table keyed
 * by the connection (both endpoints, in either direction). No reassembly, no classification.
 *
 *   cc -O2 -o floor benches/floor.c && ./floor capture.pcap
 *
 * Prints packets, TCP segments, flows and payload bytes (so that nothing is optimised away).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
    uint64_t key_hi;
    uint32_t key_lo;
    uint32_t packets; /* 0 marks an empty slot */
    uint64_t bytes;
};

static struct entry *table;
static size_t capacity = 1 << 16;
static size_t used;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void insert(uint64_t hi, uint32_t lo, uint32_t packets, uint64_t bytes);

static void grow(void) {
    struct entry *old = table;
    size_t old_capacity = capacity;
    capacity *= 2;
    table = calloc(capacity, sizeof *table);
    if (!table) {
        perror("calloc");
        exit(1);
    }
    used = 0;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].packets)
            insert(old[i].key_hi, old[i].key_lo, old[i].packets, old[i].bytes);
    free(old);
}

static void insert(uint64_t hi, uint32_t lo, uint32_t packets, uint64_t bytes) {
    if (2 * (used + 1) > capacity)
        grow();
    size_t mask = capacity - 1;
    size_t i = mix(hi ^ ((uint64_t)lo << 17)) & mask;
    for (;;) {
        struct entry *e = &table[i];
        if (e->key_hi == hi && e->key_lo == lo) {
            e->packets += packets;
            e->bytes += bytes;
            return;
        }
        if (!e->packets) {
            e->key_hi = hi;
            e->key_lo = lo;
            e->packets = packets;
            e->bytes = bytes;
            used++;
            return;
        }
        i = (i + 1) & mask;
    }
}

static uint32_t rd32(const uint8_t *p, int swap) {
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CAPTURE.pcap\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        return 2;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    madvise((void *)map, len, MADV_SEQUENTIAL);
    if (len < 24) {
        fprintf(stderr, "not a pcap file\n");
        return 2;
    }
    uint32_t magic;
    memcpy(&magic, map, 4);
    int swap;
    if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
        swap = 0;
    else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
        swap = 1;
    else {
        fprintf(stderr, "not a classic pcap file\n");
        return 2;
    }
    if (rd32(map + 20, swap) != 1) {
        fprintf(stderr, "link type is not Ethernet\n");
        return 2;
    }
    table = calloc(capacity, sizeof *table);
    uint64_t packets = 0, segments = 0, payload = 0;
    size_t off = 24;
    while (off + 16 <= len) {
        uint32_t caplen = rd32(map + off + 8, swap);
        const uint8_t *p = map + off + 16;
        off += 16 + (size_t)caplen;
        if (off > len)
            break;
        packets++;
        if (caplen < 14 + 20 + 20)
            continue;
        size_t l3 = 14;
        uint16_t ethertype = (uint16_t)(p[12] << 8 | p[13]);
        if (ethertype == 0x8100) {
            ethertype = (uint16_t)(p[16] << 8 | p[17]);
            l3 = 18;
        }
        if (ethertype != 0x0800 || (p[l3] >> 4) != 4 || p[l3 + 9] != 6)
            continue;
        size_t ihl = (size_t)(p[l3] & 15) * 4;
        size_t l4 = l3 + ihl;
        if (l4 + 20 > caplen)
            continue;
        uint16_t ip_len = (uint16_t)(p[l3 + 2] << 8 | p[l3 + 3]);
        size_t thl = (size_t)(p[l4 + 12] >> 4) * 4;
        uint32_t src, dst;
        uint16_t sport, dport;
        memcpy(&src, p + l3 + 12, 4);
        memcpy(&dst, p + l3 + 16, 4);
        memcpy(&sport, p + l4, 2);
        memcpy(&dport, p + l4 + 2, 2);
        uint64_t a = (uint64_t)src << 16 | sport, b = (uint64_t)dst << 16 | dport;
        if (a > b) {
            uint64_t t = a;
            a = b;
            b = t;
        }
        /* Both 48-bit endpoints in 96 bits. */
        uint64_t hi = (a << 16) | (b >> 32);
        uint32_t lo = (uint32_t)b;
        uint64_t body = ip_len > ihl + thl ? ip_len - ihl - thl : 0;
        segments++;
        payload += body;
        insert(hi, lo, 1, body);
    }
    printf("%llu packets, %llu TCP segments, %zu flows, %llu payload bytes\n",
           (unsigned long long)packets, (unsigned long long)segments, used,
           (unsigned long long)payload);
    return 0;
}
