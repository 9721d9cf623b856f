//go:build !unix

package main

// oNoFollow is missing here; openLogFile's Lstat still refuses a link.
const oNoFollow = 0
