"""Operations with backend-specific forms (the 4×4 stride-2 convolutions, grouped convolution,
upfirdn2d), each beside the plain form it equals."""
