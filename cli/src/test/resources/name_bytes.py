"""Names that are not UTF-8, and names that hold U+FFFD, through a mount (NameBytesIT).

Usage: name_bytes.py ROOT MODE, where ROOT holds the file caf\\uFFFD ("real") and MODE is
  view      every call of a writable view through the kernel adapter,
  ro        the calls that look a name up (a read-only snapshot),
  libfuse2  the calls that make a name, through the libfuse 2 adapter.
Prints one line per call: its label, then "ok" or the errno's name, and the tree at the end.
"""
import errno
import os
import sys

root = os.fsencode(sys.argv[1])
mode = sys.argv[2]
FFFD = b'\xef\xbf\xbd'          # U+FFFD, valid UTF-8
REAL = b'caf' + FFFD            # a file that exists
BAD = b'caf\xe9'                # not UTF-8: with U+FFFD in place of \xe9 it would be REAL


def p(name):
    return os.path.join(root, name)


def call(label, fn):
    try:
        out = fn()
        print('%s: ok%s' % (label, '' if out is None else ' ' + repr(out)))
    except OSError as e:
        print('%s: %s' % (label, errno.errorcode[e.errno]))


def make(name):
    os.close(os.open(p(name), os.O_CREAT | os.O_WRONLY, 0o644))


def read(name):
    with open(p(name), 'rb') as f:
        return f.read()


if mode in ('view', 'ro'):
    call('stat bad', lambda: os.lstat(p(BAD)) and None)
    call('open bad', lambda: read(BAD))
    call('listxattr bad', lambda: os.listxattr(p(BAD)))
if mode == 'view':
    call('unlink bad', lambda: os.unlink(p(BAD)))
    call('rmdir bad', lambda: os.rmdir(p(BAD)))
    call('rename bad to x', lambda: os.rename(p(BAD), p(b'x')))
    call('create bad', lambda: make(BAD))
    call('mkdir bad', lambda: os.mkdir(p(b'd\xe9')))
    call('symlink bad', lambda: os.symlink(b'target', p(b'l\xff')))
    call('mkfifo bad', lambda: os.mkfifo(p(b'f\xc3\x28')))
    call('link to bad', lambda: os.link(p(REAL), p(b'h\xed\xa0\x80')))
    call('rename to bad', lambda: os.rename(p(REAL), p(b'r\xe9')))
    call('create 255 bad bytes', lambda: make(b'\x80' * 255))
    call('create 256 bad bytes', lambda: make(b'\x80' * 256))
    call('create U+FFFD', lambda: make(b'n' + FFFD))
    call('mkdir U+FFFD', lambda: os.mkdir(p(b'd' + FFFD)))
    call('rename to U+FFFD', lambda: os.rename(p(b'n' + FFFD), p(b'm' + FFFD)))
    call('setxattr U+FFFD', lambda: os.setxattr(p(REAL), b'user.x' + FFFD, b'1'))
    call('setxattr bad', lambda: os.setxattr(p(REAL), b'user.x\xe9', b'2'))
    call('getxattr bad', lambda: os.getxattr(p(REAL), b'user.x\xe9'))
    call('removexattr bad', lambda: os.removexattr(p(REAL), b'user.x\xe9'))
    call('getxattr U+FFFD', lambda: os.getxattr(p(REAL), b'user.x' + FFFD))
if mode == 'libfuse2':
    call('create bad', lambda: make(BAD + b'2'))
    call('create U+FFFD', lambda: make(b'n' + FFFD))
    call('setxattr bad', lambda: os.setxattr(p(REAL), b'user.x\xe9', b'2'))
call('read real', lambda: read(REAL))
print('tree: ' + ' '.join(sorted(n.hex() for n in os.listdir(root))))
