/* Learning-rate schedules with torch.optim.lr_scheduler's arithmetic. */
#include <math.h>

#include "core/train/schedule.h"
#include "core/util/names.h"

const char *const ft_sched_names[FT_SCHED_COUNT] = {
    [FT_SCHED_CONSTANT] = "constant", [FT_SCHED_STEP] = "step", [FT_SCHED_COSINE] = "cosine",
    [FT_SCHED_PLATEAU] = "reduce_on_plateau",
};

FT_NAMES_PARSER(ft_sched_parse, ft_sched_type, ft_sched_names, FT_SCHED_COUNT)

/* ReduceLROnPlateau's eps: a reduction smaller than this is skipped. */
#define PLATEAU_EPS 1e-8

json_t *ft_sched_json(const ft_lr_schedule *s)
{
    switch (s->type) {
    case FT_SCHED_STEP:
        return json_pack("{s:s, s:i, s:f}", "type", "step", "step_size", s->step_size, "gamma", s->gamma);
    case FT_SCHED_COSINE:
        return json_pack("{s:s, s:i, s:f}", "type", "cosine", "warmup_epochs", s->warmup_epochs, "min_lr", s->min_lr);
    case FT_SCHED_PLATEAU:
        return json_pack("{s:s, s:s, s:i, s:f, s:f, s:i, s:f}", "type", "reduce_on_plateau", "metric", s->metric,
                         "patience", s->patience, "factor", s->factor, "threshold", s->threshold, "cooldown",
                         s->cooldown, "min_lr", s->min_lr);
    default:
        return json_string("constant");
    }
}

void ft_sched_start(ft_sched_state *st, double base_lr, bool higher_better)
{
    st->lr = base_lr;
    st->best = higher_better ? -INFINITY : INFINITY;
    st->bad_epochs = 0;
    st->cooldown_left = 0;
}

double ft_sched_lr(const ft_lr_schedule *s, double base_lr, int epochs, const ft_sched_state *st, int epoch)
{
    switch (s->type) {
    case FT_SCHED_STEP:
        return base_lr * pow(s->gamma, epoch / s->step_size);
    case FT_SCHED_COSINE: {
        int w = s->warmup_epochs;
        if (epoch < w)
            return base_lr * (epoch + 1) / (w + 1);
        /* CosineAnnealingLR over the epochs after the warmup (T_max = epochs - W) */
        double t = epoch - w, T = epochs - w;
        return s->min_lr + (base_lr - s->min_lr) * (1 + cos(M_PI * t / T)) / 2;
    }
    case FT_SCHED_PLATEAU:
        return st->lr;
    default:
        return base_lr;
    }
}

bool ft_sched_observe(const ft_lr_schedule *s, ft_sched_state *st, double value, bool higher_better)
{
    if (s->type != FT_SCHED_PLATEAU)
        return false;
    bool better = higher_better ? value > st->best * (1 + s->threshold) : value < st->best * (1 - s->threshold);
    if (better) {
        st->best = value;
        st->bad_epochs = 0;
    } else {
        st->bad_epochs++;
    }
    if (st->cooldown_left > 0) {
        st->cooldown_left--;
        st->bad_epochs = 0;
    }
    if (st->bad_epochs <= s->patience)
        return false;
    st->cooldown_left = s->cooldown;
    st->bad_epochs = 0;
    double next = fmax(st->lr * s->factor, s->min_lr);
    if (st->lr - next <= PLATEAU_EPS)
        return false;
    st->lr = next;
    return true;
}
