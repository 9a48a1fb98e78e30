/* Learning-rate schedules, stepped once per epoch as torch.optim.lr_scheduler
 * steps them: constant, step (StepLR), cosine (LinearLR warmup then
 * CosineAnnealingLR, as SequentialLR chains them) and reduce_on_plateau
 * (ReduceLROnPlateau, relative threshold). The first three are functions of
 * the epoch; reduce_on_plateau keeps a state that checkpoints carry. */
#ifndef FT_SCHEDULE_H
#define FT_SCHEDULE_H

#include <stdbool.h>

#include <jansson.h>

typedef enum { FT_SCHED_CONSTANT, FT_SCHED_STEP, FT_SCHED_COSINE, FT_SCHED_PLATEAU } ft_sched_type;
#define FT_SCHED_COUNT (FT_SCHED_PLATEAU + 1)

/* Names as they appear in the job spec ("constant", "step", ...). */
extern const char *const ft_sched_names[FT_SCHED_COUNT];
/* 0 and *out set if s names a schedule, else -1. */
int ft_sched_parse(const char *s, ft_sched_type *out);

/* A schedule's hyperparameters; only its type's fields apply. */
typedef struct {
    ft_sched_type type;
    int step_size;      /* step: epochs between decays */
    double gamma;       /* step: the decay factor */
    int warmup_epochs;  /* cosine: epochs of linear warmup, lr * (e + 1) / (W + 1) for epoch e < W */
    double min_lr;      /* cosine: the floor of the decay (eta_min); plateau: never below it */
    char metric[24];    /* plateau: the epoch metric watched (mode from the metric) */
    int patience;       /* plateau: epochs without improvement before a reduction */
    double factor;      /* plateau: lr multiplier on a reduction */
    double threshold;   /* plateau: relative improvement that counts */
    int cooldown;       /* plateau: epochs after a reduction before counting again */
} ft_lr_schedule;

/* The schedule as the job spec echoes it: "constant", or its type and
 * every key of that type. */
json_t *ft_sched_json(const ft_lr_schedule *s);

/* What reduce_on_plateau remembers between epochs. */
typedef struct {
    double lr;          /* the learning rate of the next epoch */
    double best;        /* best metric value so far */
    int bad_epochs;     /* epochs since best */
    int cooldown_left;  /* epochs of cooldown left */
} ft_sched_state;

/* The state before the first epoch of a run at base_lr. */
void ft_sched_start(ft_sched_state *st, double base_lr, bool higher_better);

/* The learning rate of epoch `epoch` (0-based) of `epochs`. */
double ft_sched_lr(const ft_lr_schedule *s, double base_lr, int epochs, const ft_sched_state *st, int epoch);

/* Tell reduce_on_plateau an epoch's metric value (other types ignore it);
 * true when the learning rate was reduced. */
bool ft_sched_observe(const ft_lr_schedule *s, ft_sched_state *st, double value, bool higher_better);

#endif
