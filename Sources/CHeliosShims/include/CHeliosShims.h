#ifndef CHELIOS_SHIMS_H
#define CHELIOS_SHIMS_H
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/avutil.h>

/// Values behind FFmpeg macros that Swift cannot import.
static inline int helios_averror(int e) { return AVERROR(e); }
static inline int helios_averror_eof(void) { return AVERROR_EOF; }
static inline int helios_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int helios_averror_exit(void) { return AVERROR_EXIT; }
static inline int helios_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int64_t helios_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational helios_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int helios_pkt_flag_key(void) { return AV_PKT_FLAG_KEY; }
static inline int helios_pkt_flag_discard(void) { return AV_PKT_FLAG_DISCARD; }
static inline int helios_pkt_flag_corrupt(void) { return AV_PKT_FLAG_CORRUPT; }
static inline uint32_t helios_mktag(char a, char b, char c, char d) { return MKTAG(a, b, c, d); }
static inline int helios_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int helios_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }
static inline int helios_averror_patchwelcome(void) { return AVERROR_PATCHWELCOME; }

/// Writes the message for an FFmpeg error code into buf (what av_err2str does).
void helios_strerror(int code, char *buf, size_t size);

/// Installs an av_log callback that forwards formatted lines to `sink` (NULL restores the default). `context` is the
/// object that logged (an AVFormatContext, AVCodecContext, AVIOContext ...), so a caller can tell whose line it is.
typedef void (*helios_log_sink)(void *context, int level, const char *line);
void helios_set_log_sink(helios_log_sink sink);
/// Starts writeback of a file's dirty pages without waiting (Linux sync_file_range), so a final fsync finds
/// little left to write. Returns 0, or -1 with errno set (callers may ignore failure: fsync still follows).
int helios_start_writeback(int fd);
/// Opens an unnamed file in `directory` for writing (Linux O_TMPFILE), to be given a name with linkat once complete.
/// Returns the descriptor, or -1 with errno set where the filesystem or system cannot (callers then use a named file).
int helios_open_tmpfile(const char *directory, unsigned int mode);

#endif
