package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/imgrec/imgrec/resnet"
)

func init() {
	register("model", "get and locate the ResNet-18 weights (pull, path)", runModel)
}

func runModel(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, "Usage: imgrec model pull [--url URL] [--sha256 HEX] [--dest PATH]\n       imgrec model path [--model PATH]\n\n"+
			"pull downloads torchvision's ImageNet ResNet-18 weights once, verifies their SHA-256\nand stores them where every command finds them; path prints which weights would be used.")
		if len(args) == 0 {
			return usagef("missing subcommand (pull or path)")
		}
		return nil
	}
	switch args[0] {
	case "pull":
		return runModelPull(ctx, e, args[1:])
	case "path":
		fs := newFlags(e, "model path", "model path [--model PATH]")
		modelFlag := fs.String("model", "", "explicit weights file")
		if _, err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		p, err := resnet.Locate(*modelFlag)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, p)
		return nil
	}
	return usagef("unknown subcommand %q (want pull or path)", args[0])
}

func runModelPull(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "model pull", "model pull [--url URL] [--sha256 HEX] [--dest PATH]")
	url := fs.String("url", resnet.WeightsURL, "where to download the weights from (a mirror)")
	sum := fs.String("sha256", resnet.WeightsSHA256, "the SHA-256 the file must have")
	dest := fs.String("dest", "", "where to store them (default: the cache directory, $XDG_CACHE_HOME/imgrec/"+resnet.WeightsFile+")")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dest == "" {
		dir, err := resnet.CacheDir()
		if err != nil {
			return err
		}
		*dest = filepath.Join(dir, resnet.WeightsFile)
	}
	fmt.Fprintf(e.stderr, "downloading %s\n", *url)
	bar := newProgress(e.stderr, "model")
	got, err := resnet.Pull(ctx, resnet.Download{URL: *url, SHA256: *sum, Dest: *dest}, bar.bytes)
	bar.done()
	if err != nil {
		return err
	}
	if !got {
		fmt.Fprintf(e.stderr, "already present and verified: %s\n", *dest)
	} else {
		fmt.Fprintf(e.stderr, "verified sha256 %s\n", *sum)
	}
	fmt.Fprintln(e.stdout, *dest)
	return nil
}
