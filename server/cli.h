/* Subcommands of the finetuned binary. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the process exit status. */
#ifndef FT_CLI_H
#define FT_CLI_H

int ft_cmd_train(int argc, char **argv);   /* finetuned train SPEC.json [--out M] [--threads N] */
int ft_cmd_inspect(int argc, char **argv); /* finetuned inspect MODEL.safetensors */
int ft_cmd_dataset(int argc, char **argv); /* finetuned dataset inspect FILE... */
int ft_cmd_serve(int argc, char **argv);   /* finetuned serve [flags] */
int ft_cmd_import_onnx(int argc, char **argv); /* finetuned import-onnx MODEL.onnx OUT.safetensors [--preprocess imagenet] */
int ft_cmd_forward(int argc, char **argv); /* finetuned forward MODEL INPUT.f32 OUTPUT.f32 [--batch N] */

#endif
