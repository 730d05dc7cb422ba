module github.com/imgrec/imgrec

go 1.26
