// ref_eltwise.h: double-precision references of the elementwise ops; see ref.h.
#pragma once
#include <stdint.h>

#include "ops/op_eltwise.h"

double ref_act(Activation act, double x);
double ref_act_derivative(Activation act, double x);
void ref_act_forward(double* y, const double* x, int64_t n, Activation act);
void ref_act_backward(double* dx, const double* dy, const double* x, int64_t n, Activation act);
